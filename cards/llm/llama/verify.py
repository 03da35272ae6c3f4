"""Verifier for Llama: against Hugging Face's LlamaForCausalLM (transformers' own modelling
code, eager attention) on tiny random configs with grouped-query attention, its weights loaded
into the attempt through the shared state-dict keys.

A wrong output is compared with a float64 functional Llama written here, run with one classic
mistake at a time (interleaved rotary pairs, rope_theta ignored, KV heads tiled instead of
repeated per group, no causal mask, gate and up swapped, the wrong attention scale, a tied or
unnormalised head, the padding mask ignored), and the mistake the attempt reproduces is named."""

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaForCausalLM

from cards.checks import assert_close_diagnosed, assert_unchanged, call, generator

CONFIGS = {
    # GQA 4 query heads on 2 KV heads, theta far from the default 10000
    "gqa-4q-2kv": {
        "vocab_size": 61,
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rope_theta": 500.0,
        "rms_norm_eps": 1e-5,
    },
    # groups of 3, head_dim 4, a large theta and eps
    "gqa-6q-2kv": {
        "vocab_size": 53,
        "hidden_size": 24,
        "intermediate_size": 40,
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
        "rope_theta": 1e6,
        "rms_norm_eps": 1e-3,
    },
}
NAMES = list(CONFIGS)
TOL = {"atol": 1e-4, "rtol": 1e-4}


def _config(name):
    return LlamaConfig(
        **CONFIGS[name],
        num_hidden_layers=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        eos_token_id=None,
        bos_token_id=None,
        pad_token_id=None,
        initializer_range=0.2,
        attn_implementation="eager",
    )


_HF = {}


def _hf(name):
    """The reference model (built once per config): random weights, norm weights not ones."""
    if name not in _HF:
        torch.manual_seed(1234)
        model = LlamaForCausalLM(_config(name)).eval()
        g = generator(5)
        with torch.no_grad():
            for key, p in model.named_parameters():
                if key.endswith("norm.weight"):
                    p.copy_(torch.rand(p.shape, generator=g) + 0.5)
        _HF[name] = model
    return _HF[name]


def _attempt(impl, name, device):
    config = _config(name)
    model = call(impl.Llama, config)
    hf = _hf(name)
    mine = model.state_dict()
    want = hf.state_dict()
    missing = [k for k in want if k not in mine]
    extra = [k for k in mine if k not in want]
    if missing or extra:
        note = ""
        if any(
            k.endswith(("inv_freq", "cos", "sin", "cos_cached", "sin_cached"))
            for k in extra
        ):
            note = (
                "\nlikely bug: the rotary tables are registered as persistent buffers: use "
                "register_buffer(..., persistent=False) (or compute them in forward)"
            )
        if any(k.startswith("lm_head") for k in missing) and not extra:
            note = "\nlikely bug: lm_head is missing: the head is its own nn.Linear (untied)"
        raise AssertionError(
            "Llama(config).state_dict() keys must equal LlamaForCausalLM's: "
            f"missing {missing[:6]}{'...' if len(missing) > 6 else ''}, "
            f"unexpected {extra[:6]}{'...' if len(extra) > 6 else ''}{note}"
        )
    for k, t in want.items():
        assert tuple(mine[k].shape) == tuple(t.shape), (
            f"state_dict[{k!r}]: shape expected {tuple(t.shape)}, got {tuple(mine[k].shape)}"
            + (
                " (k_proj/v_proj map hidden_size to num_key_value_heads * head_dim)"
                if "k_proj" in k or "v_proj" in k
                else ""
            )
        )
    for m in model.modules():
        assert not type(m).__module__.startswith("transformers"), (
            f"the model contains transformers' {type(m).__name__}: no transformers modelling "
            "code may be used inside"
        )
    model.load_state_dict(want)
    return model.to(device).eval()


# -- a float64 functional Llama, with switches for the classic mistakes ------------------------


def _rms(x, w, eps, plus_one=False):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * (1 + w if plus_one else w)


def _llama64(name, ids, attention_mask=None, **bug):
    cfg = CONFIGS[name]
    sd = {k: v.double() for k, v in _hf(name).state_dict().items()}
    ids = ids.cpu()
    B, T = ids.shape
    H, KV, E = (
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["hidden_size"],
    )
    hd, eps = E // H, cfg["rms_norm_eps"]
    theta = 10000.0 if bug.get("theta_default") else cfg["rope_theta"]
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    if bug.get("cumsum_positions") and attention_mask is not None:
        # (B, T)
        pos = (attention_mask.cpu().long().cumsum(-1) - 1).clamp(min=0).double()
    else:
        pos = torch.arange(T, dtype=torch.float64).expand(B, T)
    ang = pos[..., None] * inv  # (B, T, hd/2)

    def rope(x):  # x (B, heads, T, hd)
        if bug.get("no_rope"):
            return x
        c, s = ang.cos()[:, None], ang.sin()[:, None]
        if bug.get("interleaved"):
            x1, x2 = x[..., 0::2], x[..., 1::2]
            out = torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)
            return out.flatten(-2)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)

    allowed = torch.ones(T, T, dtype=torch.bool)
    if not bug.get("no_causal"):
        allowed = allowed.tril()
    allowed = allowed[None, None]
    if attention_mask is not None and not bug.get("ignore_mask"):
        allowed = allowed & attention_mask.cpu().bool()[:, None, None, :]
    scale = {"head_dim": 1 / hd, "none": 1.0}.get(bug.get("scale"), hd**-0.5)
    plus_one = bug.get("plus_one", False)

    x = sd["model.embed_tokens.weight"][ids]
    for i in range(2):
        p = f"model.layers.{i}."
        h = _rms(x, sd[p + "input_layernorm.weight"], eps, plus_one)
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(B, T, H, hd).transpose(1, 2)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        q, k = rope(q), rope(k)
        if bug.get("kv_tiled"):
            k, v = k.repeat(1, H // KV, 1, 1), v.repeat(1, H // KV, 1, 1)
        else:
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
        s = (q @ k.transpose(-2, -1)) * scale
        a = s.masked_fill(~allowed, torch.finfo(s.dtype).min).softmax(-1)
        y = (a @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + y @ sd[p + "self_attn.o_proj.weight"].T
        h = _rms(x, sd[p + "post_attention_layernorm.weight"], eps, plus_one)
        gate, up = (
            h @ sd[p + "mlp.gate_proj.weight"].T,
            h @ sd[p + "mlp.up_proj.weight"].T,
        )
        if bug.get("swap_gate_up"):
            gate, up = up, gate
        x = x + (F.silu(gate) * up) @ sd[p + "mlp.down_proj.weight"].T
    if not bug.get("no_final_norm"):
        x = _rms(x, sd["model.norm.weight"], eps, plus_one)
    head = sd["model.embed_tokens.weight"] if bug.get("tied") else sd["lm_head.weight"]
    return x @ head.T


MISTAKES = [
    (
        (
            "the rotary pairs are interleaved, (x[2i], x[2i+1]): Hugging Face's Llama weights use "
            "the rotate-half pairing, x[j] with x[j + head_dim/2]"
        ),
        {"interleaved": True},
    ),
    ("no rotary position embedding was applied to q and k", {"no_rope": True}),
    (
        (
            "rope_theta was ignored (the output matches theta = 10000): read "
            'config.rope_parameters["rope_theta"]'
        ),
        {"theta_default": True},
    ),
    (
        (
            "the KV heads were tiled (query head h reads KV head h % num_key_value_heads): with GQA, "
            "query head h reads KV head h // (num_attention_heads // num_key_value_heads), i.e. "
            "repeat_interleave on the heads dim, not repeat"
        ),
        {"kv_tiled": True},
    ),
    ("no causal mask: each position also attends to later tokens", {"no_causal": True}),
    (
        "gate_proj and up_proj are swapped in the MLP: down_proj(silu(gate_proj(x)) * up_proj(x))",
        {"swap_gate_up": True},
    ),
    ("scores are divided by head_dim, not sqrt(head_dim)", {"scale": "head_dim"}),
    ("scores are not scaled by 1/sqrt(head_dim)", {"scale": "none"}),
    (
        "lm_head is tied to embed_tokens: tie_word_embeddings is False, lm_head has its own weight",
        {"tied": True},
    ),
    (
        "the final RMSNorm (model.norm) before lm_head is missing",
        {"no_final_norm": True},
    ),
    (
        "RMSNorm scales by (1 + weight), as Gemma does: Llama scales by weight",
        {"plus_one": True},
    ),
]

MASK_MISTAKES = [
    (
        "attention_mask was ignored: padded keys (mask 0) must be hidden from every query",
        {"ignore_mask": True},
    ),
    (
        (
            "positions were counted from the first real token (mask cumsum): this contract keeps "
            "positions 0..T-1 whatever the mask, as LlamaForCausalLM's forward without position_ids"
        ),
        {"cumsum_positions": True},
    ),
]


def _variants(name, ids, attention_mask=None, keep=None):
    mistakes = MISTAKES + (MASK_MISTAKES if attention_mask is not None else [])
    for why, bug in mistakes:
        out = _llama64(name, ids, attention_mask, **bug)
        yield why, (out[keep] if keep is not None else out)


def _ids(B, T, vocab, seed):
    return torch.randint(0, vocab, (B, T), generator=generator(seed))


def _logits(model, ids, mask=None, context=""):
    before = ids.clone()
    out = call(model, ids) if mask is None else call(model, ids, attention_mask=mask)
    assert_unchanged(before, ids, "input_ids")
    assert isinstance(out, torch.Tensor), (
        f"{context}: forward must return the logits tensor, got {type(out).__name__}"
    )
    return out


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_equal_llama_for_causal_lm(impl, name):
    _attempt(impl, name, "cpu")


@pytest.mark.parametrize("name", NAMES)
def test_logits_match_hugging_face(impl, device, name):
    model = _attempt(impl, name, device)
    ids = _ids(2, 11, CONFIGS[name]["vocab_size"], seed=1)
    with torch.no_grad():
        want = _hf(name)(ids).logits
        got = _logits(model, ids.to(device), context=f"{name}, input_ids (2, 11)")
    assert_close_diagnosed(
        got,
        want.to(device),
        lambda: _variants(name, ids),
        context=f"{name}, input_ids (2, 11), logits (B, T, vocab)",
        **TOL,
    )


def test_sanity_of_the_verifier():
    # The functional model used for diagnoses is Llama itself, before any mistake.
    for name in NAMES:
        ids = _ids(2, 7, CONFIGS[name]["vocab_size"], seed=2)
        with torch.no_grad():
            want = _hf(name)(ids).logits.double()
        assert torch.allclose(_llama64(name, ids), want, atol=1e-4), "verifier setup"


def test_attention_mask_hides_padding(impl, device):
    name = NAMES[0]
    model = _attempt(impl, name, device)
    ids = _ids(3, 9, CONFIGS[name]["vocab_size"], seed=3)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[0, :4] = 0  # left padding
    mask[1, 6:] = 0  # right padding
    mask[2, 2:4] = 0  # a hole
    keep = mask.bool()
    with torch.no_grad():
        want = _hf(name)(ids, attention_mask=mask).logits
        got = _logits(
            model, ids.to(device), mask.to(device), "forward with attention_mask"
        )
    assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
        f"logits with attention_mask: shape expected {tuple(want.shape)}, got "
        f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}"
    )
    real = got[keep.to(got.device)]
    assert not torch.isnan(real).any(), (
        "forward with attention_mask (left padding): NaN in the logits of real tokens\n"
        "likely bug: a left-padded query sees no key at all, so masking with -inf gives a NaN "
        "row there, which the next layer spreads to real tokens (0 * NaN): mask with a large "
        "finite negative such as torch.finfo(dtype).min"
    )
    assert_close_diagnosed(
        real,
        want[keep].to(device),
        lambda: _variants(name, ids, mask, keep),
        context="attention_mask with left, right and inner padding: logits at the real tokens",
        **TOL,
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("B", [1, 2])
def test_generate_matches_hugging_face_greedy(impl, device, name, B):
    model = _attempt(impl, name, device)
    prompt = _ids(B, 5, CONFIGS[name]["vocab_size"], seed=10 + B)
    n_new = 7
    with torch.no_grad():
        hf = _hf(name).generate(
            prompt,
            max_new_tokens=n_new,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )
    want = hf.sequences
    assert want.shape == (B, 5 + n_new), "verifier setup: HF stopped early"
    gaps = [
        float((s.topk(2).values[:, 0] - s.topk(2).values[:, 1]).min())
        for s in hf.scores
    ]
    assert min(gaps) > 1e-3, "verifier setup: a near-tie in HF's greedy choices"
    before = prompt.clone().to(device)
    given = before.clone()
    got = call(model.generate, given, n_new)
    assert_unchanged(before, given, "input_ids")
    context = f"{name}: generate(input_ids (B={B}, 5), max_new_tokens={n_new})"
    assert isinstance(got, torch.Tensor), (
        f"{context}: expected a LongTensor, got {type(got).__name__}"
    )
    got = got.cpu()
    if got.shape == (B, n_new) and torch.equal(got, want[:, 5:]):
        raise AssertionError(
            f"{context}: returned only the new tokens: return the prompt followed by them"
        )
    assert got.shape == want.shape, (
        f"{context}: shape expected {tuple(want.shape)} (the prompt plus exactly "
        f"{n_new} tokens, no stop at EOS), got {tuple(got.shape)}"
    )
    assert torch.equal(got[:, :5], want[:, :5]), (
        f"{context}: the output must start with the prompt"
    )
    if not torch.equal(got, want):
        step = int((got != want).any(0).nonzero()[0]) - 5
        note = ""
        if step > 0:
            # the attempt's own forward, on the right prefix: does it pick HF's token?
            prefix = want[:, : 5 + step].to(device)
            with torch.no_grad():
                picked = _logits(model, prefix, context=context)[:, -1].argmax(-1).cpu()
            if torch.equal(picked, want[:, 5 + step]):
                note = (
                    "\nlikely bug: the first new token is right, later ones are not, though "
                    "your forward picks them on the whole sequence: each step must see the "
                    "whole sequence so far (with a KV cache: rotate the new token at its "
                    "absolute position, prompt length + step, and attend to every cached key)"
                )
        raise AssertionError(
            f"{context}: new token {step} differs: expected {want[:, 5:].tolist()}, got "
            f"{got[:, 5:].tolist()} (greedy: the argmax of the last position's logits){note}"
        )


def test_generate_zero_new_tokens(impl, device):
    model = _attempt(impl, NAMES[0], device)
    prompt = _ids(1, 4, CONFIGS[NAMES[0]]["vocab_size"], seed=20).to(device)
    got = call(model.generate, prompt, 0)
    assert isinstance(got, torch.Tensor) and torch.equal(got.cpu(), prompt.cpu()), (
        "generate(input_ids, 0) must return the prompt unchanged"
    )
