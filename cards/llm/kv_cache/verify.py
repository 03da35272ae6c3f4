"""Verifier for causal self-attention with a KV cache: every step of a prefill, of token-by-token
decoding and of chunked prefill must equal full causal attention over the whole sequence (torch's
scaled_dot_product_attention in float64, same weights), and the returned cache must hold the
keys and values of every token so far."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_unchanged,
    copy_linear,
    generator,
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


def _step(module, x_new, past, context):
    """One call with past_kv=past; checks that neither x nor the cache passed in is modified."""
    x_before = x_new.clone()
    past_before = None if past is None else (past[0].clone(), past[1].clone())
    result = module(x_new) if past is None else module(x_new, past)
    assert_unchanged(x_before, x_new, "x")
    if past is not None:
        assert_unchanged(
            past_before[0], past[0], f"past_kv[0] (cached keys) [{context}]"
        )
        assert_unchanged(
            past_before[1], past[1], f"past_kv[1] (cached values) [{context}]"
        )
    return _unpack(result, context)


def _check(out, cache, ref, lo, hi, x, context, scale=1):
    """out must be rows lo:hi of the full output, the cache the keys/values of positions 0:hi."""
    ref_out, ref_k, ref_v = ref
    atol, rtol = tolerance(x.dtype)
    tol = {"atol": atol * scale, "rtol": rtol * scale}
    cast = {"device": x.device, "dtype": x.dtype}
    assert_close(out, ref_out[:, lo:hi].to(**cast), context=context, **tol)
    names = (("k", "keys", ref_k), ("v", "values", ref_v))
    for (letter, what, ref_t), got in zip(names, cache):
        want = ref_t[:, :, :hi]
        assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
            f"returned cache {letter} [{context}]: expected shape {tuple(want.shape)} = (B, num_heads, "
            f"tokens so far = {hi}, head_dim), got {tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}"
            " (the cache must include the new tokens)"
        )
        assert_close(
            got,
            want.to(**cast),
            what=f"cached {what} ({letter})",
            context=context,
            **tol,
        )


def _run_chunks(module, x, chunks, H, label, scale=1):
    """Feed x (B, S, E) to the module in chunks, each on top of the cache from the last call."""
    ref = _full(_weights(module), x.detach().to("cpu", torch.float64), H)
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
        ref = _full(_weights(module), x.to("cpu", torch.float64), H)
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
