"""Verifier for scaled dot-product attention: against torch's F.scaled_dot_product_attention run in
float64 on the same inputs (dropout off), over shapes with L != S and E != Ev, masks, causal, scale.

A failed comparison also names the known mistakes (wrong scale, softmax axis, mask conventions,
shifted causal mask...) whose output the attempt reproduces: each is computed from the reference
math with that one thing changed, and named only when the attempt's output equals it."""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.attention_diagnosis import (
    NEG_INF,
    Masking,
    attend,
    dtype_mix_note,
    raised,
)
from cards.checks import (
    DIAGNOSIS_ERRORS,
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    generator,
    matches,
    random_bool_mask,
    random_float_mask,
    tolerance,
)


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


# -- diagnosis: known mistakes, computed --------------------------------------------------------


def _naive_softmax(q, k, v, scale, blocked, bias):
    """exp() without subtracting the row max, in the inputs' own dtype and device."""
    s = (q.detach() @ k.detach().transpose(-2, -1)) * scale
    if bias is not None:
        s = s + bias.to(device=s.device, dtype=s.dtype)
    if blocked is not None:
        s = s.masked_fill(blocked.to(s.device), NEG_INF)
    e = s.exp()
    return (e / e.sum(-1, keepdim=True)) @ v.detach()


def _variants(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """[(the mistake in the user's words, a callable computing its output)] for these inputs."""
    L, S, E, Ev = q.size(-2), k.size(-2), q.size(-1), v.size(-1)
    s0 = 1.0 / math.sqrt(E) if scale is None else scale
    masking = Masking(L, S, attn_mask, is_causal)
    blocked, bias = masking.blocked, masking.bias

    def run(**change):
        args = {"scale": s0, "blocked": blocked, "bias": bias, **change}
        return lambda: attend(
            *(t.detach().to("cpu", torch.float64) for t in (q, k, v)), **args
        )

    found = [
        (
            "the scores are not scaled: multiply query @ keyᵀ by `scale` (default 1/sqrt(E))",
            run(scale=1.0),
        ),
        (
            (
                "the softmax runs over the query axis (dim=-2), not the key axis (dim=-1): each "
                "query's weights over the keys must sum to 1"
            ),
            run(dim=-2),
        ),
        (
            (
                "exp() overflowed: the softmax does not subtract each row's max before exp() "
                "(torch.softmax does)"
            ),
            lambda: _naive_softmax(q, k, v, s0, blocked, bias),
        ),
    ]
    if scale is None:
        found += [
            ("the scores are scaled by 1/E, not 1/sqrt(E)", run(scale=1.0 / E)),
            (
                (
                    "the default scale uses the value's last dim Ev; it is 1/sqrt(E), E the "
                    "last dim of query"
                ),
                run(scale=1.0 / math.sqrt(Ev)),
            ),
        ]
    else:
        found += [
            (
                (
                    "the `scale` argument is ignored: the scores were scaled by the default "
                    "1/sqrt(E)"
                ),
                run(scale=1.0 / math.sqrt(E)),
            ),
            (
                "the scores are divided by `scale`; multiply them by it",
                run(scale=1 / scale),
            ),
        ]
    return found + masking.variants(
        run,
        bottom_right=(
            "the causal mask is aligned bottom-right (tril(diagonal=S - L), the KV-cache "
            "convention); is_causal here is top-left: query i sees keys 0..i"
        ),
        bool_inverted=(
            "the bool attn_mask is inverted: True marks the positions that may be attended "
            "to, False the blocked ones"
        ),
        keep_mask=(
            "the float attn_mask is used as a 0/1 (bool) keep-mask, so its values are lost: "
            "a float mask is added to the scores"
        ),
        bias_scaled=(
            "the float attn_mask is multiplied by the scale too: add it after scaling, "
            "query @ keyᵀ * scale + attn_mask"
        ),
    )


def _check(out, q, k, v, context, atol=None, rtol=None, **kwargs):
    """assert_close against torch's SDPA; on failure, the diagnosis of the known mistakes."""
    assert_close_diagnosed(
        out,
        _expected(q, k, v, **kwargs),
        lambda: _variants(q, k, v, **kwargs),
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _works_on(impl, q, k, v, atol, rtol, **kwargs) -> bool:
    """Whether the attempt gets these (other) inputs right."""
    try:
        out = impl.scaled_dot_product_attention(q, k, v, **kwargs)
    except DIAGNOSIS_ERRORS:
        return False
    return isinstance(out, torch.Tensor) and matches(
        out.detach().to("cpu", torch.float64),
        _expected(q, k, v, **kwargs).to("cpu", torch.float64),
        atol,
        rtol,
    )


def _retry_note(impl, q, k, v, **kwargs) -> str:
    """Why the attempt raised, found by rerunning it: tracing dtypes (float16/bfloat16), on the
    same data as 4-D (B, H, L, E) tensors, or (with is_causal) cut to L == S."""
    low = q.dtype in (torch.float16, torch.bfloat16)
    atol, rtol = tolerance(q.dtype)
    atol = 2 * atol if low else atol  # as _LOW_PRECISION_TOL
    L, S = q.size(-2), k.size(-2)
    if low:
        run = impl.scaled_dot_product_attention
        note = dtype_mix_note(
            lambda: run(q, k, v, **kwargs),
            q.dtype,
            impl.__file__,
            "create masks and constants in the inputs' dtype (dtype=query.dtype), or cast back",
        )
        if note:
            return note
    if kwargs.get("attn_mask") is None and q.dim() != 4:
        q4, k4, v4 = (t.reshape(1, -1, *t.shape[-2:]) for t in (q, k, v))
        if _works_on(impl, q4, k4, v4, atol, rtol, **kwargs):
            return (
                f"\nlikely bug (checked by rerunning): it works on 4-D (B, H, L, E) inputs but "
                f"raised on a {q.dim()}-D query {tuple(q.shape)}: the leading dims `...` may be "
                "any number, none included (index from the end: key.transpose(-2, -1), or "
                "einsum with '...')"
            )
    if kwargs.get("is_causal") and L != S:
        n = min(L, S)
        qn, kn, vn = q[..., :n, :], k[..., :n, :], v[..., :n, :]
        if _works_on(impl, qn, kn, vn, atol, rtol, **kwargs):
            return (
                f"\nlikely bug (checked by rerunning): is_causal=True works when L == S but "
                f"raised with L={L} != S={S}: the causal mask must be (L, S) = ({L}, {S}), "
                "query i seeing keys 0..i"
            )
    return ""


def _call(impl, q, k, v, **kwargs):
    """Calls the attempt and checks that it left every input tensor untouched; an error it
    raises gets the diagnosis of a rerun when one explains it."""
    inputs = {"query": q, "key": k, "value": v}
    if kwargs.get("attn_mask") is not None:
        inputs["attn_mask"] = kwargs["attn_mask"]
    before = {name: t.detach().clone() for name, t in inputs.items()}
    try:
        out = impl.scaled_dot_product_attention(q, k, v, **kwargs)
    except RuntimeError as exc:
        if type(exc).__name__ == "BannedCallError":
            raise
        note = _retry_note(impl, *(t.detach().clone() for t in (q, k, v)), **kwargs)
        if not note:
            raise
        raise AssertionError(raised(exc, impl.__file__) + note) from None
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
    _check(out, q, k, v, context=_shapes(q, k, v))


def test_scale_uses_query_dim_not_value_dim(impl, device):
    q, k, v = _qkv((2, 5, 4), (2, 6, 4), (2, 6, 64), 2, device, std=2.0)
    _check(
        _call(impl, q, k, v),
        q,
        k,
        v,
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
    mask = random_bool_mask(case[3], 4, device)
    out = _call(impl, q, k, v, attn_mask=mask)
    ctx = f"bool attn_mask {tuple(mask.shape)} (True = may attend), {_shapes(q, k, v)}"
    _check(out, q, k, v, context=ctx, attn_mask=mask)


@pytest.mark.parametrize(
    "case", MASK_CASES, ids=lambda c: "mask" + "x".join(map(str, c[3]))
)
def test_float_mask_is_added_to_scores(impl, device, case):
    q, k, v = _qkv(*case[:3], 5, device)
    mask = random_float_mask(case[3], 6, device, zeros=True)
    out = _call(impl, q, k, v, attn_mask=mask)
    ctx = f"float attn_mask {tuple(mask.shape)} (added to the scores, some -inf), {_shapes(q, k, v)}"
    _check(out, q, k, v, context=ctx, attn_mask=mask)


@pytest.mark.parametrize("L,S", [(6, 6), (4, 9), (9, 4), (1, 5)], ids=lambda x: str(x))
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)], ids=["no-batch", "3-D", "4-D"])
def test_is_causal_top_left(impl, device, L, S, batch):
    q, k, v = _qkv((*batch, L, 8), (*batch, S, 8), (*batch, S, 5), 7, device)
    out = _call(impl, q, k, v, is_causal=True)
    ctx = f"is_causal=True with L={L}, S={S}: query i sees keys 0..i (top-left aligned)"
    _check(out, q, k, v, context=ctx, is_causal=True)


@pytest.mark.parametrize("scale", [0.3, 2.0])
def test_custom_scale(impl, device, scale):
    q, k, v = _qkv((2, 3, 6, 16), (2, 3, 10, 16), (2, 3, 10, 7), 8, device)
    _check(
        _call(impl, q, k, v, scale=scale),
        q,
        k,
        v,
        context=f"scale={scale}",
        scale=scale,
    )
    mask = random_bool_mask((6, 10), 9, device)
    out = _call(impl, q, k, v, attn_mask=mask, scale=scale)
    _check(
        out,
        q,
        k,
        v,
        context=f"scale={scale} with a bool mask",
        attn_mask=mask,
        scale=scale,
    )
    out = _call(impl, q, k, v, is_causal=True, scale=scale)
    _check(
        out,
        q,
        k,
        v,
        context=f"scale={scale} with is_causal",
        is_causal=True,
        scale=scale,
    )


def test_large_scores_do_not_overflow(impl, device):
    # Scores of several hundred: exp() without subtracting the row max overflows float32 (> ~88).
    q, k, v = _qkv((2, 6, 16), (2, 8, 16), (2, 8, 4), 10, device, std=10.0)
    out = _call(impl, q, k, v)
    _check(
        out,
        q,
        k,
        v,
        atol=1e-3,
        rtol=1e-3,
        context="scores of magnitude ~100s (stable softmax?)",
    )
    # a large constant bias cancels out in softmax
    mask = random_float_mask((6, 8), 11, device, zeros=True) + 500.0
    out = _call(impl, q / 10, k / 10, v, attn_mask=mask)
    _check(
        out,
        q / 10,
        k / 10,
        v,
        attn_mask=mask,
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
    _check(
        _call(impl, q, k, v),
        q,
        k,
        v,
        atol=atol,
        rtol=rtol,
        context=f"{dtype} inputs",
    )
    out = _call(impl, q, k, v, is_causal=True)
    _check(
        out,
        q,
        k,
        v,
        is_causal=True,
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, is_causal",
    )
    mask = random_bool_mask((2, 1, 7, 12), 13, device)
    out = _call(impl, q, k, v, attn_mask=mask)
    _check(
        out,
        q,
        k,
        v,
        attn_mask=mask,
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, bool mask",
    )
    fmask = random_float_mask((7, 12), 14, device, dtype, zeros=True)
    out = _call(impl, q, k, v, attn_mask=fmask)
    _check(
        out,
        q,
        k,
        v,
        attn_mask=fmask,
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, float mask",
    )


@pytest.mark.parametrize("causal", [False, True], ids=["mask", "causal"])
def test_gradients_wrt_query_key_value(impl, device, causal):
    q, k, v = _qkv((2, 3, 5, 12), (2, 3, 8, 12), (2, 3, 8, 7), 15, device)
    mask = None if causal else random_float_mask((2, 1, 5, 8), 16, device, zeros=True)
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
