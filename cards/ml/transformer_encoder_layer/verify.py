"""Verifier for TransformerEncoderLayer: nn.TransformerEncoderLayer's parameter names and
shapes (strict loads both ways), then outputs against nn.TransformerEncoderLayer (float64,
train mode with dropout 0, so torch's fused fast path never runs) with the same seeded
weights: post-norm and pre-norm, batch-first and not, bool and float attention masks, bool
and float key-padding masks, both masks together, eval mode with dropout > 0, odd sizes, and
gradients to src and every parameter.

Failures name the classic mistakes: bool masks inverted (True taken as "keep"), a mask
ignored, the padding mask applied to queries, scores scaled by sqrt(d_model), heads split or
merged without the transpose, pre-norm and post-norm swapped, GELU instead of ReLU."""

import math

import pytest
import torch
from torch import nn

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    causal_mask,
    generator,
    randn,
    random_bool_mask,
    random_float_mask,
    tolerance,
)

E, NHEAD, FF = 12, 3, 20


def make(
    impl,
    device,
    dtype,
    seed,
    norm_first=False,
    batch_first=True,
    dropout=0.0,
    d=E,
    nhead=NHEAD,
    ff=FF,
    defaults=False,
):
    """The attempt's layer, torch's seeded weights loaded into it with strict=True, and that
    torch layer in float64 on the CPU (train mode, dropout 0) holding the attempt's values."""
    if defaults:  # dropout=0.0, norm_first=False, batch_first=True
        module = call(
            impl.TransformerEncoderLayer, d, nhead, ff, what="TransformerEncoderLayer"
        )
    else:
        module = call(
            impl.TransformerEncoderLayer,
            d,
            nhead,
            ff,
            dropout=dropout,
            norm_first=norm_first,
            batch_first=batch_first,
            what="TransformerEncoderLayer",
        )
    ref = nn.TransformerEncoderLayer(
        d,
        nhead,
        ff,
        dropout=0.0,
        norm_first=norm_first,
        batch_first=batch_first,
        dtype=torch.float64,
    )
    want = {n: tuple(p.shape) for n, p in ref.named_parameters()}
    got = {n: tuple(p.shape) for n, p in module.named_parameters()}
    args = f"TransformerEncoderLayer({d}, {nhead}, {ff})"
    assert set(got) == set(want), (
        f"{args}: parameter names must be exactly nn.TransformerEncoderLayer's; missing "
        f"{sorted(set(want) - set(got))}, unexpected {sorted(set(got) - set(want))}"
    )
    for name, shape in want.items():
        assert got[name] == shape, (
            f"{args}: `{name}` must have shape {shape}, got {got[name]}"
        )
    extra = set(module.state_dict()) - set(ref.state_dict())
    assert not extra, (
        f"{args}: the state dict has entries torch's lacks: {sorted(extra)}"
    )
    g = generator(seed)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            scale = 0.3 if "norm" not in name else 0.5
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
            if name.startswith("norm") and name.endswith("weight"):
                p.add_(1.0)
    module = module.to(device=device, dtype=dtype)
    module.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(
        {k: v.detach().cpu().double() for k, v in module.state_dict().items()},
        strict=True,
    )
    ref.train()  # with dropout 0: exact, and never torch's fused inference path
    return module, ref


def _ln(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def encoder(p, src, nhead, norm_first, batch_first, src_mask, kpm, **bug):
    """The layer in float64 on the CPU from the state dict p, with one mistake switched on."""
    x = src.detach().cpu().double()
    x = x if batch_first else x.transpose(0, 1)
    B, L, d = x.shape
    hd = d // nhead

    def masks(scores):
        out = scores
        for m, is_kpm in ((src_mask, False), (kpm, True)):
            if m is None:
                continue
            m = m.detach().cpu()
            if (
                is_kpm
                and bug.get("kpm_ignored")
                or not is_kpm
                and bug.get("src_mask_ignored")
            ):
                continue
            if is_kpm:
                m = (
                    m[:, None, :, None]
                    if bug.get("kpm_on_queries")
                    else m[:, None, None, :]
                )
            if m.dtype == torch.bool:
                if bug.get("bool_inverted"):
                    m = ~m
                out = out.masked_fill(m, float("-inf"))
            else:
                out = out + m.double()
        return out

    def sa(y):
        qkv = y @ p["self_attn.in_proj_weight"].T + p["self_attn.in_proj_bias"]
        q, k, v = qkv.chunk(3, -1)
        if bug.get("split_no_transpose"):
            q, k, v = (t.reshape(B, nhead, L, hd) for t in (q, k, v))
        else:
            q, k, v = (t.view(B, L, nhead, hd).transpose(1, 2) for t in (q, k, v))
        scale = math.sqrt(d if bug.get("scale_d_model") else hd)
        w = torch.softmax(masks(q @ k.transpose(-2, -1) / scale), -1)
        o = w @ v
        if bug.get("merge_no_transpose") or bug.get("split_no_transpose"):
            o = o.reshape(B, L, d)
        else:
            o = o.transpose(1, 2).reshape(B, L, d)
        return o @ p["self_attn.out_proj.weight"].T + p["self_attn.out_proj.bias"]

    act = torch.nn.functional.gelu if bug.get("gelu") else torch.relu

    def ff(y):
        h = act(y @ p["linear1.weight"].T + p["linear1.bias"])
        return h @ p["linear2.weight"].T + p["linear2.bias"]

    eps = bug.get("ln_eps", 1e-5)
    n1 = lambda y: _ln(y, p["norm1.weight"], p["norm1.bias"], eps)
    n2 = lambda y: _ln(y, p["norm2.weight"], p["norm2.bias"], eps)
    pre = norm_first != bool(bug.get("norm_swapped"))
    if pre:
        x = x + sa(n1(x))
        x = x + ff(n2(x))
    else:
        x = n1(x + sa(x))
        x = n2(x + ff(x))
    return x if batch_first else x.transpose(0, 1)


BUGS = {
    "the bool masks are inverted: in torch's convention True means masked out (not attended)": {
        "bool_inverted": True
    },
    "src_key_padding_mask was ignored: padded keys (True) must not be attended to": {
        "kpm_ignored": True
    },
    "src_mask was ignored: add a float mask to the scores, or block the True entries of a bool one": {
        "src_mask_ignored": True
    },
    "the padding mask was applied to the queries: src_key_padding_mask (B, L) masks keys, "
    "broadcast as [:, None, None, :] over (B, heads, queries, keys)": {
        "kpm_on_queries": True
    },
    "the scores were scaled by 1/sqrt(d_model): the scale is 1/sqrt(d_model / nhead), the head dim": {
        "scale_d_model": True
    },
    "the heads were split by reshape without a transpose: view (B, L, nhead, head_dim), then "
    "transpose(1, 2)": {"split_no_transpose": True},
    "the heads were merged without transposing back: (B, nhead, L, hd) -> transpose(1, 2) -> "
    "reshape (B, L, d_model)": {"merge_no_transpose": True},
    "pre-norm and post-norm are swapped: norm_first=False is norm(x + f(x)), norm_first=True "
    "is x + f(norm(x))": {"norm_swapped": True},
    "GELU was used: this layer's activation is ReLU": {"gelu": True},
    "the LayerNorms use eps=1e-6: nn.TransformerEncoderLayer's layer_norm_eps is 1e-5": {
        "ln_eps": 1e-6
    },
    "the LayerNorms use eps=1e-12: nn.TransformerEncoderLayer's layer_norm_eps is 1e-5": {
        "ln_eps": 1e-12
    },
}


def _check(module, ref, src, src_mask, kpm, norm_first, batch_first, context):
    saved = [t.clone() for t in (src, src_mask, kpm) if t is not None]
    kwargs = {}
    if src_mask is not None:
        kwargs["src_mask"] = src_mask
    if kpm is not None:
        kwargs["src_key_padding_mask"] = kpm
    out = call(module, src, **kwargs)
    for before, (name, after) in zip(
        saved,
        [
            (n, t)
            for n, t in (
                ("src", src),
                ("src_mask", src_mask),
                ("src_key_padding_mask", kpm),
            )
            if t is not None
        ],
    ):
        assert_unchanged(before, after, name)
    rk = {k: v.detach().cpu() for k, v in kwargs.items()}
    rk = {k: (v if v.dtype == torch.bool else v.double()) for k, v in rk.items()}
    expected = ref(src.detach().cpu().double(), **rk)
    p = {k: v.detach().cpu().double() for k, v in module.state_dict().items()}
    nhead = ref.self_attn.num_heads
    atol, rtol = tolerance(src.dtype)
    # two LayerNorms amplify float32 rounding
    slack = 10 if src.dtype == torch.float32 else 1
    assert_close_diagnosed(
        out,
        expected.to(device=src.device, dtype=src.dtype),
        lambda: {
            why: (
                lambda bug=bug: encoder(
                    p, src, nhead, norm_first, batch_first, src_mask, kpm, **bug
                )
            )
            for why, bug in BUGS.items()
        },
        atol=atol * slack,
        rtol=rtol * slack,
        context=context,
    )
    return out


def _kpm(B, L, device, lengths):
    """Bool (B, L), True on padded key positions (torch's convention)."""
    return (
        torch.arange(L, device=device)[None]
        >= torch.as_tensor(lengths, device=device)[:, None]
    )


CASES = [
    # norm_first, batch_first, dtype, masks
    (False, True, torch.float32, "none"),
    (True, True, torch.float64, "none"),
    (False, True, torch.float64, "bool-src"),
    (True, False, torch.float32, "float-src"),
    (False, False, torch.float64, "bool-kpm"),
    (True, True, torch.float32, "bool-both"),
    (False, True, torch.float64, "float-both"),
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[
        f"{'pre' if c[0] else 'post'}-bf{int(c[1])}-{str(c[2])[6:]}-{c[3]}"
        for c in CASES
    ],
)
def test_matches_torch(impl, device, case):
    norm_first, batch_first, dtype, masks = case
    B, L = 3, 5
    module, ref = make(
        impl,
        device,
        dtype,
        seed=len(masks),
        norm_first=norm_first,
        batch_first=batch_first,
    )
    src = randn((B, L, E) if batch_first else (L, B, E), 1 + len(masks), device, dtype)
    src_mask = kpm = None
    if masks in ("bool-src", "bool-both"):
        # True = may attend (the kit's convention)
        keep = random_bool_mask((L, L), 3, device)
        keep[:, 0] = True
        src_mask = ~keep  # torch's: True = masked out
    if masks in ("float-src", "float-both"):
        src_mask = random_float_mask((L, L), 4, device, dtype, zeros=True)
    if masks in ("bool-kpm", "bool-both"):
        kpm = _kpm(B, L, device, [5, 2, 4])
    if masks == "float-both":
        kpm = torch.zeros(B, L, dtype=dtype, device=device)
        kpm[1, 3:] = float("-inf")
        kpm[2, 1] = 0.7
    context = (
        f"{'pre-norm' if norm_first else 'post-norm'}, batch_first={batch_first}, {dtype}, "
        f"masks: {masks}"
    )
    _check(module, ref, src, src_mask, kpm, norm_first, batch_first, context)


def test_causal_mask_and_padding_odd_sizes(impl, device):
    d, nhead, ff = 10, 2, 7
    module, ref = make(impl, device, torch.float64, seed=9, d=d, nhead=nhead, ff=ff)
    src = randn((2, 7, d), 10, device, torch.float64)
    src_mask = ~causal_mask(7, device=device)
    kpm = _kpm(2, 7, device, [7, 3])
    _check(
        module,
        ref,
        src,
        src_mask,
        kpm,
        False,
        True,
        "d_model=10, nhead=2, ff=7, causal + padding",
    )


def test_eval_mode_turns_dropout_off(impl, device):
    module, ref = make(
        impl, device, torch.float64, seed=11, dropout=0.3, norm_first=True
    )
    module.eval()
    src = randn((2, 4, E), 12, device, torch.float64)
    first, second = (call(module, src) for _ in range(2))
    context = "dropout=0.3 in eval mode"
    if isinstance(first, torch.Tensor) and not torch.equal(first, second):
        context += (
            ", where two calls differ: dropout must be off (F.dropout's training argument "
            "defaults to True: pass self.training, or use nn.Dropout)"
        )
    _check(module, ref, src, None, None, True, True, context)


def test_gradients_match_torch(impl, device):
    module, ref = make(impl, device, torch.float64, seed=13, norm_first=False)
    src = randn((2, 4, E), 14, device, torch.float64).requires_grad_()
    kpm = _kpm(2, 4, device, [4, 3])
    out = call(module, src, src_key_padding_mask=kpm)
    up = randn((2, 4, E), 15, device, torch.float64)
    (out * up).sum().backward()
    rsrc = src.detach().cpu().requires_grad_()
    (ref(rsrc, src_key_padding_mask=kpm.cpu()) * up.cpu()).sum().backward()
    named = dict(ref.named_parameters())
    pairs = [("src", src.grad, rsrc.grad)] + [
        (n, q.grad, named[n].grad) for n, q in module.named_parameters()
    ]
    for name, got, want in pairs:
        assert got is not None, (
            f"no gradient reached `{name}`: is it detached or unused?"
        )
        assert_close(
            got, want.to(device), what=f"gradient of {name}", atol=1e-7, rtol=1e-6
        )


def test_defaults_post_norm_batch_first(impl, device):
    module, ref = make(impl, device, torch.float64, seed=16, defaults=True)
    module.train()  # dropout defaults to 0.0: training mode is exact too
    # (B, L, E): batch_first by default
    src = randn((2, 5, E), 17, device, torch.float64)
    _check(module, ref, src, None, None, False, True, "defaults, train mode")


@pytest.mark.parametrize("norm_first", [False, True], ids=["post", "pre"])
def test_small_inputs_where_eps_matters(impl, device, norm_first):
    module, ref = make(impl, device, torch.float64, seed=18, norm_first=norm_first)
    src = randn((2, 4, E), 19, device, torch.float64, scale=0.01)
    _check(
        module,
        ref,
        src,
        None,
        None,
        norm_first,
        True,
        "|src| ~ 0.01, where LayerNorm's eps matters",
    )
