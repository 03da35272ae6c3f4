"""Verifier for scaled dot-product attention: against torch's F.scaled_dot_product_attention run in
float64 on the same inputs (dropout off), over shapes with L != S and E != Ev, masks, causal, scale.

A failed comparison also names the known mistakes (wrong scale, softmax axis, mask conventions,
shifted causal mask...) whose output the attempt reproduces: each is computed from the reference
math with that one thing changed, and named only when the attempt's output equals it."""

import contextlib
import math
import sys
import traceback

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from cards.checks import assert_close, assert_unchanged, generator, tolerance

_NEG_INF = float("-inf")
# what a rerun of the attempt may raise while it is being diagnosed
_ERRORS = (RuntimeError, TypeError, ValueError, IndexError, AttributeError)


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
    """An additive bias on the scores, with some -inf entries (never a whole row) and some exact
    zeros (a float mask used as a 0/1 keep-mask then differs from one that is ignored)."""
    g = generator(seed)
    mask = torch.randn(shape, generator=g) * 2
    blocked = torch.rand(shape, generator=g) < 0.3
    blocked[..., 0] = False
    mask = mask.masked_fill(torch.rand(shape, generator=g) < 0.2, 0.0)
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


# -- diagnosis: known mistakes, computed --------------------------------------------------------


def _attend64(q, k, v, scale, blocked=None, fill=_NEG_INF, bias=None, **how):
    """Attention in float64 on the CPU with knobs for known mistakes: `blocked` (True = score
    replaced by `fill`), an additive `bias` (scaled with the scores if how["bias_scaled"]), the
    softmax axis how["dim"], and how["after"], a factor on the probabilities after the softmax."""
    q, k, v = (t.detach().to("cpu", torch.float64) for t in (q, k, v))
    s = q @ k.transpose(-2, -1)
    if bias is not None and how.get("bias_scaled"):
        s = (s + bias) * scale
    else:
        s = s * scale if bias is None else s * scale + bias
    if blocked is not None:
        s = s.masked_fill(blocked, fill)
    w = torch.softmax(s, dim=how.get("dim", -1))
    if how.get("after") is not None:
        w = w * how["after"]
    return w @ v


def _naive_softmax(q, k, v, scale, blocked, bias):
    """exp() without subtracting the row max, in the inputs' own dtype and device."""
    s = (q.detach() @ k.detach().transpose(-2, -1)) * scale
    if bias is not None:
        s = s + bias.to(device=s.device, dtype=s.dtype)
    if blocked is not None:
        s = s.masked_fill(blocked.to(s.device), _NEG_INF)
    e = s.exp()
    return (e / e.sum(-1, keepdim=True)) @ v.detach()


_AFTER_SOFTMAX = (
    "the mask is applied to the probabilities after the softmax, so the rows no longer sum "
    "to 1: mask the scores before the softmax"
)


def _variants(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """[(the mistake in the user's words, a callable computing its output)] for these inputs."""
    L, S, E, Ev = q.size(-2), k.size(-2), q.size(-1), v.size(-1)
    s0 = 1.0 / math.sqrt(E) if scale is None else scale
    mask = None if attn_mask is None else attn_mask.detach().to("cpu")
    is_bool = mask is not None and mask.dtype == torch.bool

    def tril(d):
        return torch.ones(L, S, dtype=torch.bool).tril(d)

    blocked = ~tril(0) if is_causal else (~mask if is_bool else None)
    bias = mask.double() if mask is not None and not is_bool else None

    def run(**change):
        args = {"scale": s0, "blocked": blocked, "bias": bias, **change}
        return lambda: _attend64(q, k, v, **args)

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
    if is_causal:
        found += [
            (
                (
                    "is_causal=True has no effect: the output matches attention without the "
                    "causal mask"
                ),
                run(blocked=None),
            ),
            (
                (
                    "the causal mask is shifted by one: each query also sees the next key "
                    "(query i sees keys 0..i+1)"
                ),
                run(blocked=~tril(1)),
            ),
            (
                "the causal mask is shifted by one: query i does not see key i (itself)",
                run(blocked=~tril(-1)),
            ),
            (
                "the causal mask is flipped: query i sees keys i.. (the future), not 0..i",
                run(blocked=tril(-1)),
            ),
        ]
        if L != S:
            found.append(
                (
                    (
                        "the causal mask is aligned bottom-right (tril(diagonal=S - L), the "
                        "KV-cache convention); is_causal here is top-left: query i sees keys 0..i"
                    ),
                    run(blocked=~tril(S - L)),
                )
            )
    if is_bool:
        found += [
            (
                (
                    "the bool attn_mask is inverted: True marks the positions that may be "
                    "attended to, False the blocked ones"
                ),
                run(blocked=mask),
            ),
            (
                "the bool attn_mask has no effect: the output matches attention without it",
                run(blocked=None),
            ),
            (
                (
                    "the bool attn_mask is added to the scores as 0/1; a bool mask selects "
                    "positions (False = score -inf)"
                ),
                run(blocked=None, bias=mask.double()),
            ),
        ]
    if bias is not None:
        found += [
            (
                (
                    "the float attn_mask has no effect on the output: a float mask is added "
                    "to the scores"
                ),
                run(bias=None),
            ),
            (
                (
                    "the float attn_mask is used as a 0/1 (bool) keep-mask, so its values are "
                    "lost: a float mask is added to the scores"
                ),
                run(bias=None, blocked=mask == 0),
            ),
            (
                (
                    "the float attn_mask is multiplied by the scale too: add it after scaling, "
                    "query @ keyᵀ * scale + attn_mask"
                ),
                run(bias_scaled=True),
            ),
            (_AFTER_SOFTMAX, run(bias=None, after=bias.exp())),
        ]
    if blocked is not None:
        found += [
            (
                (
                    "blocked positions get a score of 0 instead of -inf, so they still get "
                    "weight exp(0) after the softmax"
                ),
                run(fill=0.0),
            ),
            (_AFTER_SOFTMAX, run(blocked=None, after=(~blocked).double())),
        ]
    return found


def _matches(actual, variant, atol, rtol) -> bool:
    """Same shape and every value within the tolerance of assert_close (nan/inf where equal)."""
    return actual.shape == variant.shape and bool(
        torch.isclose(actual, variant, rtol=rtol, atol=atol, equal_nan=True).all()
    )


def diagnose(actual, expected, variants, atol: float, rtol: float) -> str:
    """Words for a failed comparison: the known mistakes whose output (computed from the
    reference math) the attempt's output equals within the tolerance. A variant that the
    reference itself would match names nothing; a variant that cannot be computed is skipped."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return ""
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    found = []
    for why, compute in variants:
        if why in found:
            continue
        try:
            v = compute().detach().to("cpu", torch.float64)
        except _ERRORS:
            continue
        if not _matches(e, v, atol, rtol) and _matches(a, v, atol, rtol):
            found.append(why)
    if len(found) <= 1:
        return "".join(
            f"\nlikely bug (the values match this mistake): {why}" for why in found
        )
    return "".join(
        [
            (
                "\nlikely bug, one of these (the values match each; this input cannot tell "
                "them apart):"
            )
        ]
        + [f"\n  - {why}" for why in found]
    )


def _check(out, q, k, v, context, atol=None, rtol=None, **kwargs):
    """assert_close against torch's SDPA; on failure, the diagnosis of the known mistakes."""
    expected = _expected(q, k, v, **kwargs)
    try:
        assert_close(out, expected, atol=atol, rtol=rtol, context=context)
    except AssertionError as exc:
        default_atol, default_rtol = tolerance(expected.dtype)
        note = diagnose(
            out,
            expected,
            _variants(q, k, v, **kwargs),
            default_atol if atol is None else atol,
            default_rtol if rtol is None else rtol,
        )
        if not note:
            raise
        raise AssertionError(str(exc) + note) from None


class _DtypeMix(TorchFunctionMode):
    """Finds the first operation of the attempt that combines a tensor of the low-precision
    dtype with a float32/float64 one (which promotes the result), and the attempt's line."""

    def __init__(self, low, path):
        super().__init__()
        self.low, self.path, self.found = low, path, None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.found is None:
            tensors = [
                t
                for t in (*args, *kwargs.values())
                if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() > 0
            ]
            wide = [t for t in tensors if t.dtype in (torch.float32, torch.float64)]
            if wide and any(t.dtype == self.low for t in tensors):
                frame = sys._getframe(1)
                while frame is not None and frame.f_code.co_filename != self.path:
                    frame = frame.f_back
                if frame is not None:
                    name = getattr(func, "__name__", str(func)).strip("_")
                    self.found = (name, wide[0], frame.f_lineno)
        return func(*args, **kwargs)


def _dtype_mix_note(run, low, path) -> str:
    """Reruns the attempt (`run()`) tracing dtypes; words for the first promoting operation."""
    tracer = _DtypeMix(low, path)
    with contextlib.suppress(*_ERRORS), tracer:  # the rerun fails like the run did
        run()
    if tracer.found is None:
        return ""
    name, wide, line = tracer.found
    return (
        f"\nlikely bug (traced in the {low} run): on your line {line}, `{name}` combines a "
        f"{low} tensor with a {wide.dtype} tensor of shape {tuple(wide.shape)}, which "
        f"promotes the result to {wide.dtype}: create masks and constants in the inputs' "
        "dtype (dtype=query.dtype), or cast back"
    )


def _works_on(impl, q, k, v, atol, rtol, **kwargs) -> bool:
    """Whether the attempt gets these (other) inputs right."""
    try:
        out = impl.scaled_dot_product_attention(q, k, v, **kwargs)
    except _ERRORS:
        return False
    return isinstance(out, torch.Tensor) and _matches(
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
        note = _dtype_mix_note(lambda: run(q, k, v, **kwargs), q.dtype, impl.__file__)
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


def _raised(exc, path) -> str:
    """The exception as the grader shows it: type, the attempt's line, message."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    where = f" (your line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {exc}"


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
        raise AssertionError(_raised(exc, impl.__file__) + note) from None
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
    mask = _bool_mask(case[3], 4, device)
    out = _call(impl, q, k, v, attn_mask=mask)
    ctx = f"bool attn_mask {tuple(mask.shape)} (True = may attend), {_shapes(q, k, v)}"
    _check(out, q, k, v, context=ctx, attn_mask=mask)


@pytest.mark.parametrize(
    "case", MASK_CASES, ids=lambda c: "mask" + "x".join(map(str, c[3]))
)
def test_float_mask_is_added_to_scores(impl, device, case):
    q, k, v = _qkv(*case[:3], 5, device)
    mask = _float_mask(case[3], 6, device)
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
    mask = _bool_mask((6, 10), 9, device)
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
    mask = (
        _float_mask((6, 8), 11, device) + 500.0
    )  # a large constant bias cancels out in softmax
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
    mask = _bool_mask((2, 1, 7, 12), 13, device)
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
    fmask = _float_mask((7, 12), 14, device, dtype)
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
