"""Verifier for scaled dot-product attention: against torch's F.scaled_dot_product_attention run in
float64 on the same inputs (dropout off), over shapes with L != S and E != Ev, masks, causal, scale."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import assert_close, assert_unchanged, generator, tolerance


def _randn(shape, seed, device, dtype=torch.float32, std=1.0):
    return (torch.randn(shape, generator=generator(seed)) * std).to(
        device=device, dtype=dtype
    )


def _qkv(q_shape, k_shape, v_shape, seed, device, dtype=torch.float32, std=1.0):
    return (
        _randn(q_shape, seed, device, dtype, std),
        _randn(k_shape, seed + 100, device, dtype, std),
        _randn(v_shape, seed + 200, device, dtype),
    )


def _bool_mask(shape, seed, device):
    """True = may attend; every row keeps at least one True (a row with none is outside the contract)."""
    mask = torch.rand(shape, generator=generator(seed)) < 0.6
    mask[..., 0] |= ~mask.any(-1)
    return mask.to(device)


def _float_mask(shape, seed, device, dtype=torch.float32):
    """An additive bias on the scores, with some -inf entries (never a whole row)."""
    g = generator(seed)
    mask = torch.randn(shape, generator=g) * 2
    blocked = torch.rand(shape, generator=g) < 0.3
    blocked[..., 0] = False
    return mask.masked_fill(blocked, float("-inf")).to(device=device, dtype=dtype)


def _expected(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """torch's own SDPA, computed in float64 and returned in the query's dtype."""
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        attn_mask = attn_mask.double()
    out = F.scaled_dot_product_attention(
        q.double(),
        k.double(),
        v.double(),
        attn_mask=attn_mask,
        is_causal=is_causal,
        scale=scale,
    )
    return out.to(q.dtype)


def _call(impl, q, k, v, **kwargs):
    """Calls the attempt and checks that it left every input tensor untouched."""
    inputs = {"query": q, "key": k, "value": v}
    if kwargs.get("attn_mask") is not None:
        inputs["attn_mask"] = kwargs["attn_mask"]
    before = {name: t.detach().clone() for name, t in inputs.items()}
    out = impl.scaled_dot_product_attention(q, k, v, **kwargs)
    for name, t in inputs.items():
        assert_unchanged(before[name], t, name)
    return out


def _shapes(q, k, v):
    return f"query {tuple(q.shape)}, key {tuple(k.shape)}, value {tuple(v.shape)}"


# (query, key, value) shapes: L != S, E != Ev, from no batch dims up to three.
SHAPES = [
    ((7, 16), (13, 16), (13, 9)),
    ((2, 7, 16), (2, 13, 16), (2, 13, 24)),
    ((2, 3, 7, 33), (2, 3, 13, 33), (2, 3, 13, 5)),
    ((1, 1, 5, 8), (1, 1, 5, 8), (1, 1, 5, 8)),
    ((2, 1, 16), (2, 9, 16), (2, 9, 16)),
    ((2, 2, 3, 4, 8), (2, 2, 3, 6, 8), (2, 2, 3, 6, 10)),
]


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "q" + "x".join(map(str, s[0])))
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_sdpa(impl, device, shapes, seed):
    q, k, v = _qkv(*shapes, seed, device)
    out = _call(impl, q, k, v)
    assert_close(out, _expected(q, k, v), context=_shapes(q, k, v))


def test_scale_uses_query_dim_not_value_dim(impl, device):
    q, k, v = _qkv((2, 5, 4), (2, 6, 4), (2, 6, 64), 2, device, std=2.0)
    assert_close(
        _call(impl, q, k, v),
        _expected(q, k, v),
        context="E=4, Ev=64: default scale is 1/sqrt(E)",
    )


# (query, key, value, mask) shapes; the mask broadcasts to (..., L, S).
MASK_CASES = [
    ((2, 3, 7, 16), (2, 3, 11, 16), (2, 3, 11, 12), (7, 11)),
    ((2, 3, 7, 16), (2, 3, 11, 16), (2, 3, 11, 12), (2, 1, 7, 11)),
    ((2, 3, 7, 16), (2, 3, 11, 16), (2, 3, 11, 12), (2, 3, 7, 11)),
    ((2, 3, 7, 16), (2, 3, 11, 16), (2, 3, 11, 12), (2, 1, 1, 11)),
    ((4, 9, 8), (4, 5, 8), (4, 5, 6), (4, 9, 5)),
    ((9, 8), (5, 8), (5, 6), (9, 5)),
]


@pytest.mark.parametrize(
    "case", MASK_CASES, ids=lambda c: "mask" + "x".join(map(str, c[3]))
)
def test_bool_mask_true_means_attend(impl, device, case):
    q, k, v = _qkv(*case[:3], 3, device)
    mask = _bool_mask(case[3], 4, device)
    out = _call(impl, q, k, v, attn_mask=mask)
    ctx = f"bool attn_mask {tuple(mask.shape)} (True = may attend), {_shapes(q, k, v)}"
    assert_close(out, _expected(q, k, v, attn_mask=mask), context=ctx)


@pytest.mark.parametrize(
    "case", MASK_CASES, ids=lambda c: "mask" + "x".join(map(str, c[3]))
)
def test_float_mask_is_added_to_scores(impl, device, case):
    q, k, v = _qkv(*case[:3], 5, device)
    mask = _float_mask(case[3], 6, device)
    out = _call(impl, q, k, v, attn_mask=mask)
    ctx = f"float attn_mask {tuple(mask.shape)} (added to the scores, some -inf), {_shapes(q, k, v)}"
    assert_close(out, _expected(q, k, v, attn_mask=mask), context=ctx)


@pytest.mark.parametrize("L,S", [(6, 6), (4, 9), (9, 4), (1, 5)], ids=lambda x: str(x))
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)], ids=["no-batch", "3-D", "4-D"])
def test_is_causal_top_left(impl, device, L, S, batch):
    q, k, v = _qkv((*batch, L, 8), (*batch, S, 8), (*batch, S, 5), 7, device)
    out = _call(impl, q, k, v, is_causal=True)
    ctx = f"is_causal=True with L={L}, S={S}: query i sees keys 0..i (top-left aligned)"
    assert_close(out, _expected(q, k, v, is_causal=True), context=ctx)


@pytest.mark.parametrize("scale", [0.3, 2.0])
def test_custom_scale(impl, device, scale):
    q, k, v = _qkv((2, 3, 6, 16), (2, 3, 10, 16), (2, 3, 10, 7), 8, device)
    assert_close(
        _call(impl, q, k, v, scale=scale),
        _expected(q, k, v, scale=scale),
        context=f"scale={scale}",
    )
    mask = _bool_mask((6, 10), 9, device)
    out = _call(impl, q, k, v, attn_mask=mask, scale=scale)
    assert_close(
        out,
        _expected(q, k, v, attn_mask=mask, scale=scale),
        context=f"scale={scale} with a bool mask",
    )
    out = _call(impl, q, k, v, is_causal=True, scale=scale)
    assert_close(
        out,
        _expected(q, k, v, is_causal=True, scale=scale),
        context=f"scale={scale} with is_causal",
    )


def test_large_scores_do_not_overflow(impl, device):
    # Scores of several hundred: exp() without subtracting the row max overflows float32 (> ~88).
    q, k, v = _qkv((2, 6, 16), (2, 8, 16), (2, 8, 4), 10, device, std=10.0)
    out = _call(impl, q, k, v)
    assert_close(
        out,
        _expected(q, k, v),
        atol=1e-3,
        rtol=1e-3,
        context="scores of magnitude ~100s (stable softmax?)",
    )
    mask = (
        _float_mask((6, 8), 11, device) + 500.0
    )  # a large constant bias cancels out in softmax
    out = _call(impl, q / 10, k / 10, v, attn_mask=mask)
    assert_close(
        out,
        _expected(q / 10, k / 10, v, attn_mask=mask),
        atol=1e-3,
        rtol=1e-3,
        context="float mask with +500 added everywhere (softmax is shift-invariant)",
    )


# Scores are rounded to the input dtype before the softmax, so an error of half a unit in the last
# place of a score (magnitude ~|q||k|*scale) reaches the output: twice the single-op atol of
# cards.checks, measured against straightforward implementations that compute in that dtype.
_LOW_PRECISION_TOL = {
    torch.float16: (2 * tolerance(torch.float16)[0], tolerance(torch.float16)[1]),
    torch.bfloat16: (2 * tolerance(torch.bfloat16)[0], tolerance(torch.bfloat16)[1]),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_keeps_dtype(impl, device, dtype):
    atol, rtol = _LOW_PRECISION_TOL[dtype]
    q, k, v = _qkv((2, 3, 7, 32), (2, 3, 12, 32), (2, 3, 12, 20), 12, device, dtype)
    assert_close(
        _call(impl, q, k, v),
        _expected(q, k, v),
        atol=atol,
        rtol=rtol,
        context=f"{dtype} inputs",
    )
    out = _call(impl, q, k, v, is_causal=True)
    assert_close(
        out,
        _expected(q, k, v, is_causal=True),
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, is_causal",
    )
    mask = _bool_mask((2, 1, 7, 12), 13, device)
    out = _call(impl, q, k, v, attn_mask=mask)
    assert_close(
        out,
        _expected(q, k, v, attn_mask=mask),
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, bool mask",
    )
    fmask = _float_mask((7, 12), 14, device, dtype)
    out = _call(impl, q, k, v, attn_mask=fmask)
    assert_close(
        out,
        _expected(q, k, v, attn_mask=fmask),
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, float mask",
    )


@pytest.mark.parametrize("causal", [False, True], ids=["mask", "causal"])
def test_gradients_wrt_query_key_value(impl, device, causal):
    q, k, v = _qkv((2, 3, 5, 12), (2, 3, 8, 12), (2, 3, 8, 7), 15, device)
    mask = None if causal else _float_mask((2, 1, 5, 8), 16, device)
    ours = [t.clone().requires_grad_() for t in (q, k, v)]
    ref = [t.double().requires_grad_() for t in (q, k, v)]
    upstream = _randn((2, 3, 5, 7), 17, device)
    out = impl.scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=causal)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: is it detached from query/key/value?"
    )
    (out * upstream).sum().backward()
    ref_mask = None if mask is None else mask.double()
    (
        F.scaled_dot_product_attention(*ref, attn_mask=ref_mask, is_causal=causal)
        * upstream.double()
    ).sum().backward()
    for name, t, r in zip(("query", "key", "value"), ours, ref):
        assert t.grad is not None, f"no gradient reached `{name}`"
        assert_close(
            t.grad,
            r.grad.float(),
            what=f"gradient of {name}",
            atol=1e-4,
            rtol=1e-3,
            context="causal" if causal else "float mask",
        )
