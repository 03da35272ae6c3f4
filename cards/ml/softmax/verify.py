"""Verifier for softmax: against torch.softmax run in float64 on the very same inputs, over
several shapes and dims (negative too), non-contiguous views, inputs of ±1e4 and 1e4 + noise,
-inf entries and all -inf slices (NaN, as torch), float64 / float16 / bfloat16, and through
its gradients (-inf entries included).

Where torch gives NaN (an all -inf slice) the attempt must give NaN too; elsewhere the values
are compared with the dtype's tolerance. A failed comparison names the classic mistake the
output matches, if any: exp without the max shift (computed in the input's own precision), the
max or the sum taken over the whole tensor, another dim."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)

NO_MAX = (
    "exp(x) without subtracting the max first: exp overflows to inf (or every term underflows "
    "to 0) for inputs near ±1e4; subtract the max along dim (keepdim=True) before exp"
)
GLOBAL_MAX = (
    "the max was taken over the whole tensor, not along dim: slices far below the global max "
    "underflow to 0/0; take x.amax(dim=dim, keepdim=True)"
)
GLOBAL_SUM = (
    "the sum was taken over the whole tensor, not along dim: each slice must sum to 1; use "
    "e.sum(dim=dim, keepdim=True)"
)
ALL_INF = (
    "an all -inf slice must give NaN, as torch.softmax does ((-inf) - (-inf) is NaN): do not "
    "replace the max, the -inf entries or the NaN by a finite value"
)


def _x(shape, seed, device, dtype=torch.float32, scale=3.0, shift=0.0):
    g = generator(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale + shift
    return x.to(device=device, dtype=dtype)


def _reference(x, dim):
    """torch.softmax in float64 on the CPU."""
    return torch.softmax(x.detach().to("cpu", torch.float64), dim=dim)


def _naive(x, dim, kind):
    """A mistake computed in x's own precision (float32 for float64 inputs is not needed)."""
    v = x.detach().cpu()
    if kind == "no_max":
        e = v.exp()
        return (e / e.sum(dim, keepdim=True)).double()
    if kind == "global_max":
        e = (v - v.max()).exp()
        return (e / e.sum(dim, keepdim=True)).double()
    v = v.double()
    e = (v - v.amax(dim, keepdim=True)).exp()
    return e / e.sum()  # global sum


def _variants(x, dim):
    found = [
        (NO_MAX, lambda: _naive(x, dim, "no_max")),
        (GLOBAL_MAX, lambda: _naive(x, dim, "global_max")),
        (GLOBAL_SUM, lambda: _naive(x, dim, "global_sum")),
    ]
    nd = x.dim()
    want = dim % nd
    for other in range(nd):
        if other != want:
            why = (
                f"softmax was taken along dim {other} (or {other - nd}), not dim={dim}: "
                "reduce along the `dim` argument"
            )
            found.append((why, lambda o=other: _reference(x, o)))
    return found


def _call(impl, x, dim, positional=False):
    before = x.detach().clone()
    if positional:
        out = call(impl.softmax, x, dim, what="softmax")
    else:
        out = call(impl.softmax, x, dim=dim, what="softmax")
    assert_unchanged(before, x, "x")
    return out


def _check(out, x, dim, context, what="softmax output", loose=False):
    """NaN exactly where torch gives NaN, then the values elsewhere. `loose`: inputs near
    ±1e4, whose own float32 spacing (~1e-3) a correct exp(x - logsumexp(x)) passes on."""
    expected = _reference(x, dim).to(device=x.device, dtype=x.dtype)
    tol_dtype = torch.float32 if x.dtype == torch.float64 else x.dtype
    atol, rtol = (2e-3, 2e-3) if loose else tolerance(tol_dtype)
    nan = torch.isnan(expected)
    if nan.any() and isinstance(out, torch.Tensor) and out.shape == expected.shape:
        # on the CPU: an output on another device than x is named by assert_close below
        got = out.detach().to("cpu", torch.float64)[nan.cpu()]
        if not torch.isnan(got).all():
            first = got[~torch.isnan(got)][0].item()
            raise AssertionError(
                f"{what} [{context}]: got {first:.4g} in a slice whose entries are all -inf, "
                f"expected NaN\nlikely bug: {ALL_INF}"
            )
        # NaN slots agree: compare the rest (a NaN in the comparison would hide every error)
        zero = torch.zeros((), dtype=out.dtype, device=out.device)
        out = torch.where(nan.to(out.device), zero, out)
        expected = torch.where(nan, torch.zeros_like(expected), expected)
        mask = nan.cpu()

        def variants():
            return [
                (why, lambda v=v: torch.where(mask, 0.0, v() if callable(v) else v))
                for why, v in _variants(x, dim)
            ]
    else:

        def variants():
            return _variants(x, dim)

    assert_close_diagnosed(
        out, expected, variants, what=what, atol=atol, rtol=rtol, context=context
    )


CASES = [
    ((5, 7), -1),
    ((5, 7), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), -3),
    ((2, 3, 4), 2),
    ((9,), 0),
    ((3, 1, 5), 1),
    ((2, 2, 3, 5), -2),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-dim{c[1]}")
def test_matches_torch(impl, device, case):
    shape, dim = case
    x = _x(shape, seed=len(shape) + dim + 10, device=device)
    out = _call(impl, x, dim, positional=dim >= 0)
    _check(out, x, dim, f"x of shape {shape}, dim={dim}")


def test_non_contiguous_input(impl, device):
    base = _x((6, 9), seed=1, device=device)
    for x, dim, what in (
        (base.t(), 1, "a transposed (9, 6) view"),
        (base[:, ::2], -1, "every other column, (6, 5)"),
        (base.t()[1:7], 0, "a sliced transposed view"),
    ):
        assert not x.is_contiguous()
        out = _call(impl, x, dim)
        _check(out, x, dim, f"{what}, dim={dim}")


@pytest.mark.parametrize(
    "scale,shift",
    [(1e4, 0.0), (1.0, 1e4), (1.0, -1e4), (50.0, 0.0)],
    ids=["x1e4", "+1e4", "-1e4", "x50"],
)
def test_large_inputs_are_stable(impl, device, scale, shift):
    # x1e4: exp overflows to inf and underflows to 0; +1e4: every exp overflows; -1e4: every
    # exp underflows (0/0); x50 (|x| < 200): exp(x) overflows float32 beyond 88.
    x = _x((6, 11), seed=2, device=device, scale=scale, shift=shift)
    if scale == 1e4:  # rows far apart: a max over the whole tensor underflows some rows
        x = x + torch.arange(6, device=device, dtype=x.dtype)[:, None] * 3e3
    for dim in (-1, 0):
        out = _call(impl, x, dim)
        _check(out, x, dim, f"x * {scale:g} + {shift:g}, dim={dim}", loose=bool(shift))


def _with_inf(device, dtype=torch.float32):
    """(4, 6): some -inf entries, row 2 entirely -inf, column 0 never -inf elsewhere."""
    x = _x((4, 6), seed=3, device=device, dtype=dtype)
    blocked = torch.tensor(
        [
            [False, True, False, False, True, False],
            [False, False, False, True, False, False],
            [True, True, True, True, True, True],
            [False, True, True, True, True, True],
        ],
        device=device,
    )
    return x.masked_fill(blocked, float("-inf"))


def test_minus_inf_entries_and_slices(impl, device):
    x = _with_inf(device)
    out = _call(impl, x, -1)
    _check(
        out,
        x,
        -1,
        "rows with -inf entries; row 2 entirely -inf (NaN), row 3 one finite",
    )
    # along dim 0: column 1 ... 5 hold several -inf, none is entirely -inf
    out = _call(impl, x, 0)
    _check(out, x, 0, "columns with -inf entries, dim=0")
    # a 3-D case: one whole slice along dim 1 is -inf
    y = _x((2, 3, 4), seed=4, device=device)
    y[1, :, 2] = float("-inf")
    y[0, 1, 1] = float("-inf")
    out = _call(impl, y, 1)
    _check(out, y, 1, "(2, 3, 4), dim=1, the slice [1, :, 2] entirely -inf")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(impl, device, dtype):
    x = _x((5, 40), seed=5, device=device, dtype=dtype)
    out = _call(impl, x, -1)
    _check(out, x, -1, f"{dtype} input of shape (5, 40)")
    if dtype != torch.float64:
        y = _x((3, 12), seed=6, device=device, dtype=dtype, shift=1e4, scale=20.0)
        out = _call(impl, y, -1)
        _check(out, y, -1, f"{dtype} input near 1e4")
    z = _with_inf(device, dtype)
    out = _call(impl, z, -1)
    _check(out, z, -1, f"{dtype} input with -inf entries and an all -inf row")


@pytest.mark.parametrize(
    "case",
    [
        ((4, 7), -1, 0.0, False),
        ((3, 5, 2), 1, 0.0, False),
        ((5, 6), 0, 1e4, False),
        ((4, 6), -1, 0.0, True),
    ],
    ids=["2d", "3d-dim1", "near-1e4", "minus-inf"],
)
def test_gradients(impl, device, case):
    shape, dim, shift, with_inf = case
    if with_inf:  # -inf entries, no all -inf slice: their gradient is exactly 0
        x = _with_inf(device)[[0, 1, 3]].clone()
        shape = tuple(x.shape)
    else:
        x = _x(shape, seed=7, device=device, shift=shift)
    x.requires_grad_()
    out = _call(impl, x, dim)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: it must stay on the autograd graph of x (no "
        "detach(), no torch.no_grad(), no .numpy())"
    )
    upstream = torch.randn(shape, generator=generator(8), dtype=torch.float64)
    (out * upstream.to(device=device, dtype=out.dtype)).sum().backward()
    assert x.grad is not None, "no gradient reached x: is the output detached?"
    x64 = x.detach().to("cpu", torch.float64).requires_grad_()
    (torch.softmax(x64, dim=dim) * upstream).sum().backward()
    # near ±1e4, float32 inputs are themselves ~1e-3 apart (see _check's `loose`)
    atol, rtol = (2e-3, 2e-3) if shift else (1e-5, 1e-4)
    assert_close(
        x.grad,
        x64.grad.to(device=device, dtype=x.dtype),
        what="gradient of x",
        atol=atol,
        rtol=rtol,
        context=f"x of shape {shape}, dim={dim}"
        + (", -inf entries" if with_inf else ""),
    )
