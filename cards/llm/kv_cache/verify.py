"""Verifier for causal self-attention with a KV cache: every step of a prefill, of token-by-token
decoding and of chunked prefill must equal full causal attention over the whole sequence (torch's
scaled_dot_product_attention in float64, same weights), and the returned cache must hold the
keys and values of every token so far."""

import math
import re

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    copy_linear,
    generator,
    matches,
    tolerance,
)

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
# (embed_dim, num_heads): odd head_dim 5, odd embed_dim with head_dim 7, a single head.
CONFIGS = [(20, 4), (21, 3), (9, 1)]
CONFIG_IDS = ["E20-H4", "E21-H3", "E9-H1"]


def _make(impl, E, H, device, dtype=torch.float32, seed=0):
    """The attempt's module with seeded weights (independent of its own initialisation)."""
    module = impl.CachedCausalSelfAttention(E, H)
    g = generator(seed)
    for name in PROJECTIONS:
        lin = getattr(module, name, None)
        assert isinstance(lin, torch.nn.Module) and isinstance(
            getattr(lin, "weight", None), torch.Tensor
        ), f"expected an nn.Linear attribute `{name}` on CachedCausalSelfAttention"
        assert tuple(lin.weight.shape) == (E, E), (
            f"`{name}.weight` with embed_dim={E}: expected shape ({E}, {E}), got {tuple(lin.weight.shape)}"
        )
        assert getattr(lin, "bias", None) is None, (
            f"`{name}` must have no bias (nn.Linear(..., bias=False))"
        )
    module = module.to(device=device, dtype=dtype)
    for name in PROJECTIONS:
        copy_linear(
            getattr(module, name), torch.randn(E, E, generator=g) * (1.5 / math.sqrt(E))
        )
    return module


def _weights(module, requires_grad=False):
    """{name: weight} the module really holds, on the CPU in float64."""
    return {
        n: getattr(module, n)
        .weight.detach()
        .to("cpu", torch.float64)
        .requires_grad_(requires_grad)
        for n in PROJECTIONS
    }


def _full(w, x, H):
    """Full causal attention over the whole sequence x (B, S, E), float64 on the CPU.
    Returns the output (B, S, E) and the keys and values (B, H, S, head_dim)."""
    B, S, E = x.shape
    heads = lambda t: t.view(B, S, H, E // H).transpose(1, 2)
    q, k, v = (
        heads(x @ w["q_proj"].T),
        heads(x @ w["k_proj"].T),
        heads(x @ w["v_proj"].T),
    )
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).reshape(B, S, E) @ w["out_proj"].T, k, v


def _x(B, S, E, seed, device, dtype=torch.float32):
    return torch.randn(B, S, E, generator=generator(seed)).to(
        device=device, dtype=dtype
    )


def _unpack(result, context):
    ok = isinstance(result, (tuple, list)) and len(result) == 2
    assert ok, (
        f"forward must return (out, (k, v)) [{context}], got {type(result).__name__}"
    )
    out, cache = result
    ok = isinstance(cache, (tuple, list)) and len(cache) == 2
    assert ok, (
        f"forward must return (out, (k, v)): the cache is not a pair of tensors [{context}]"
    )
    return out, cache


def _output_variants(w, x, H, lo, hi):
    """Rows lo:hi of the output under known mistakes, given the whole sequence x (B, S, E) in
    float64 on the CPU: {what the mistake is, in the user's terms: output (B, hi - lo, E)}."""
    B, _, E = x.shape
    hs, T = E // H, hi - lo
    heads = lambda t: t.view(B, -1, H, hs).transpose(1, 2)
    q = heads(x[:, lo:hi] @ w["q_proj"].T)  # (B, H, T, hs)
    k = heads(x[:, :hi] @ w["k_proj"].T)  # (B, H, hi, hs)
    v = heads(x[:, :hi] @ w["v_proj"].T)
    i = torch.arange(T)[:, None]  # new token i, absolute position lo + i
    j = torch.arange(hi)[None, :]  # key position

    def attend(allowed, scale):
        s = (q @ k.transpose(-2, -1)) * scale
        p = s.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, E) @ w["out_proj"].T

    causal, right = j <= lo + i, 1 / math.sqrt(hs)
    return {
        "no causal mask: new tokens also attend to the tokens after them (key j is "
        "allowed only up to the query's absolute position, j <= P + i)": attend(
            j >= 0, right
        ),
        "the causal mask is not offset by the cached length: new query i must see all "
        f"{lo} cached keys plus new keys up to i (the output matches the mask j <= i, as "
        "tril over (T, S) without the offset P gives)": attend(j <= i, right),
        "the new tokens do not attend to the cached keys/values (the output matches causal "
        "attention over the new tokens alone)": attend((j >= lo) & causal, right),
        "scores are scaled by 1/sqrt(embed_dim); the scale is 1/sqrt(head_dim), "
        "head_dim = embed_dim // num_heads": attend(causal, 1 / math.sqrt(E)),
        "scores are not scaled by 1/sqrt(head_dim)": attend(causal, 1.0),
    }


def _cache_variants(letter, ref_k, ref_v, lo, hi, hs):
    """The returned cache's k or v (positions 0:hi) under known mistakes."""
    mine, other = (ref_k, ref_v) if letter == "k" else (ref_v, ref_k)
    new_first = torch.cat([mine[:, :, lo:hi], mine[:, :, :lo]], dim=2)
    variants = {
        "keys and values are swapped in the returned cache: return (k, v)": other[
            :, :, :hi
        ],
        "the returned cache puts the new tokens before the cached ones: the past "
        "keys/values come first (torch.cat([past, new], dim=2))": new_first,
    }
    if letter == "k":
        scaled = ref_k[:, :, :hi] / math.sqrt(hs)
        variants[
            "the cached keys are pre-scaled by 1/sqrt(head_dim): cache the raw keys "
            "k_proj(x) and apply the scale to the scores (or to q)"
        ] = scaled
    return variants


def _cache_shape_diagnosis(got, ref_t, lo, hi, atol, rtol) -> str:
    """Why the returned cache has the wrong shape, when its values say so."""
    if not isinstance(got, torch.Tensor) or got.dim() != 4:
        return ""
    g = got.detach().to("cpu", torch.float64)
    if lo and matches(g, ref_t[:, :, :lo], atol, rtol):
        return (
            f"\nlikely bug: the returned cache lacks the new tokens' keys/values: it holds only "
            f"the {lo} tokens cached before this call; return the past keys/values followed by "
            "the new ones (torch.cat on dim 2)"
        )
    if lo and matches(g, ref_t[:, :, lo:hi], atol, rtol):
        return (
            f"\nlikely bug: the returned cache holds only the {hi - lo} new tokens: the {lo} "
            "cached ones must come first (torch.cat([past, new], dim=2))"
        )
    if matches(g, ref_t[:, :, :hi].transpose(1, 2), atol, rtol):
        return (
            "\nlikely bug: the cache is laid out (B, tokens, num_heads, head_dim): return it "
            "as (B, num_heads, tokens, head_dim)"
        )
    return ""


_DIMS = {0: "batch", 1: "heads", 3: "head_dim"}


def _concat_diagnosis(message: str, P: int, T: int) -> str:
    """torch.cat's size error, when the cached and new keys were joined on a dim other than 2."""
    m = re.search(
        r"Sizes of tensors must match except in dimension (\d+)\. "
        r"Expected size (\d+) but got size (\d+)",
        message,
    )
    if not m or int(m.group(1)) not in _DIMS or P == T:
        return ""
    if {int(m.group(2)), int(m.group(3))} != {P, T}:
        return ""
    d = int(m.group(1))
    return (
        f"\nlikely bug: keys/values were concatenated on the wrong dimension (dim {d}, the "
        f"{_DIMS[d]} dim): the {P} cached and {T} new tokens differ in length on dim 2, the "
        "sequence dim, which is the one the cache grows along (torch.cat(..., dim=2))"
    )


def _step(module, x_new, past, context):
    """One call with past_kv=past; checks that neither x nor the cache passed in is modified."""
    x_before = x_new.clone()
    past_before = None if past is None else (past[0].clone(), past[1].clone())
    try:
        result = module(x_new) if past is None else module(x_new, past)
    except RuntimeError as exc:
        note = (
            ""
            if past is None
            else _concat_diagnosis(str(exc), past_before[0].shape[2], x_new.shape[1])
        )
        # keep the exception (and its traceback to the user's line), add the words
        if note:
            exc.args = (f"{exc.args[0] if exc.args else ''}{note}", *exc.args[1:])
        raise
    assert_unchanged(x_before, x_new, "x")
    if past is not None:
        for n, what, before, after in (
            (0, "cached keys", past_before[0], past[0]),
            (1, "cached values", past_before[1], past[1]),
        ):
            name = f"past_kv[{n}] ({what}) [{context}]"
            grown = after.dim() == 4 and after.shape[2] > before.shape[2]
            assert not grown, (
                f"input `{name}` was modified in place: the caller's cache was grown in place "
                f"from {tuple(before.shape)} to {tuple(after.shape)} (appended to, e.g. with set_ "
                "or resize_); build new tensors with torch.cat and leave past_kv untouched"
            )
            assert_unchanged(before, after, name)
    return _unpack(result, context)


def _check(out, cache, ref, lo, hi, x, context, scale=1):
    """out must be rows lo:hi of the full output, the cache the keys/values of positions 0:hi.
    ref = _reference(...): the weights, the whole sequence and its full attention."""
    w, x64, H, (ref_out, ref_k, ref_v) = ref
    hs = ref_k.shape[-1]
    atol, rtol = tolerance(x.dtype)
    tol = {"atol": atol * scale, "rtol": rtol * scale}
    cast = {"device": x.device, "dtype": x.dtype}
    assert_close_diagnosed(
        out,
        ref_out[:, lo:hi].to(**cast),
        lambda: _output_variants(w, x64, H, lo, hi),
        context=context,
        **tol,
    )
    names = (("k", "keys", ref_k), ("v", "values", ref_v))
    for (letter, what, ref_t), got in zip(names, cache):
        want = ref_t[:, :, :hi]
        if not (isinstance(got, torch.Tensor) and got.shape == want.shape):
            raise AssertionError(
                f"returned cache {letter} [{context}]: expected shape {tuple(want.shape)} = (B, num_heads, "
                f"tokens so far = {hi}, head_dim), got {tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}"
                " (the cache must include the new tokens)"
                + _cache_shape_diagnosis(got, ref_t, lo, hi, **tol)
            )
        assert_close_diagnosed(
            got,
            want.to(**cast),
            lambda letter=letter: _cache_variants(letter, ref_k, ref_v, lo, hi, hs),
            context=context,
            what=f"cached {what} ({letter})",
            **tol,
        )


def _reference(module, x, H):
    """(weights, x, H, (out, k, v) of full causal attention over x), float64 on the CPU."""
    w, x64 = _weights(module), x.detach().to("cpu", torch.float64)
    return w, x64, H, _full(w, x64, H)


def _run_chunks(module, x, chunks, H, label, scale=1):
    """Feed x (B, S, E) to the module in chunks, each on top of the cache from the last call."""
    ref = _reference(module, x, H)
    past, lo = None, 0
    for n in chunks:
        hi = lo + n
        context = f"{label}: tokens {lo}..{hi - 1} with {lo} cached, x of shape {tuple(x[:, lo:hi].shape)}"
        out, past = _step(module, x[:, lo:hi], past, context)
        _check(out, past, ref, lo, hi, x, context, scale)
        lo = hi


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("B", [1, 3])
def test_no_cache_is_full_causal_attention(impl, device, config, B):
    E, H = config
    module = _make(impl, E, H, device, seed=B)
    _run_chunks(module, _x(B, 9, E, 10 + B, device), [9], H, "prefill without a cache")


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("B", [1, 2])
def test_prefill_then_decode_one_token_at_a_time(impl, device, config, B):
    E, H = config
    module = _make(impl, E, H, device, seed=20 + B)
    _run_chunks(
        module, _x(B, 11, E, 30 + B, device), [5] + [1] * 6, H, "prefill 5 then decode"
    )


def test_decode_from_a_single_token(impl, device):
    module = _make(impl, 20, 4, device, seed=40)
    _run_chunks(
        module,
        _x(2, 6, 20, 41, device),
        [1] * 6,
        4,
        "token-by-token from the first token",
    )


@pytest.mark.parametrize("chunks", [[4, 3, 1, 5], [2, 6, 3]], ids=["4-3-1-5", "2-6-3"])
@pytest.mark.parametrize("config", CONFIGS[:2], ids=CONFIG_IDS[:2])
def test_chunked_prefill_on_top_of_a_cache(impl, device, config, chunks):
    # Several new tokens on top of a cache: the causal mask must be offset by the cache length.
    E, H = config
    module = _make(impl, E, H, device, seed=50)
    _run_chunks(module, _x(2, sum(chunks), E, 51, device), chunks, H, "chunked prefill")


def test_cache_is_reusable_for_two_continuations(impl, device):
    # Beam search and speculative decoding continue one cached prefix in several ways: the
    # cache returned by the prefill must stay valid after it has been used once.
    E, H = 21, 3
    module = _make(impl, E, H, device, seed=60)
    prefix = _x(1, 6, E, 61, device)
    _, cache = _step(module, prefix, None, "prefill of 6 tokens")
    for name, n, seed in (("first", 1, 62), ("second", 3, 63)):
        tail = _x(1, n, E, seed, device)
        x = torch.cat([prefix, tail], dim=1)
        ref = _reference(module, x, H)
        context = f"{name} continuation ({n} tokens) of the same 6-token cache"
        out, new_cache = _step(module, tail, cache, context)
        _check(out, new_cache, ref, 6, 6 + n, x, context)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_keeps_dtype(impl, device, dtype):
    module = _make(impl, 20, 4, device, dtype=dtype, seed=70)
    x = _x(2, 9, 20, 71, device, dtype=dtype)
    # Several roundings in a row (projections, scores, softmax, output): 4x the elementwise tolerance.
    _run_chunks(module, x, [4, 1, 3, 1], 4, f"{dtype} module and input", scale=4)


def test_gradients_without_cache(impl, device):
    E, H = 20, 4
    module = _make(impl, E, H, device, seed=80)
    x = _x(2, 7, E, 81, device).requires_grad_()
    upstream = torch.randn(2, 7, E, generator=generator(82))
    out, _ = _unpack(module(x), "forward(x) without a cache")
    (out * upstream.to(device)).sum().backward()

    w = _weights(module, requires_grad=True)
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    (_full(w, x64, H)[0] * upstream.double()).sum().backward()

    tol = {"atol": 1e-4, "rtol": 1e-3}
    assert x.grad is not None, (
        "no gradient reached the input x: is the output detached?"
    )
    assert_close(
        x.grad, x64.grad.to(device=device, dtype=x.dtype), what="gradient of x", **tol
    )
    for name in PROJECTIONS:
        weight = getattr(module, name).weight
        assert weight.grad is not None, f"no gradient reached `{name}.weight`"
        assert_close(
            weight.grad,
            w[name].grad.to(device=device, dtype=weight.dtype),
            what=f"gradient of {name}.weight",
            **tol,
        )
