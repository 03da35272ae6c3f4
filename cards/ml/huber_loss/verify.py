"""Verifier for the Huber loss: against torch's F.huber_loss computed in float64 on the very
same inputs, for every reduction, delta = 1 (the default) and delta ≠ 1 (0.1, 0.5, 2.5),
differences on both sides of ±delta (some exactly at ±delta), 0-dim, 1-, 2- and 3-dim and
non-contiguous inputs, float64 / float16 / bfloat16, and gradients for input and target.

A failed comparison names the classic mistake the result matches, if any, each computed in
float64 with that one thing changed: smooth L1 (divided by delta), delta left out of the linear
piece, delta ignored, the ½ missing, d compared with delta instead of |d|, delta² instead of
½delta², and the reductions swapped."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)

REDUCTIONS = ["mean", "sum", "none"]


def _inputs(shape, seed, device, delta, dtype=torch.float32):
    """input ~ N(0, 2²) and target = input - d, d uniform in (-3·delta, 3·delta), a few
    differences set exactly to ±delta: about a third of the elements fall in the quadratic band."""
    g = generator(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    d = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * 3 * delta
    if d.numel() >= 6:
        flat = d.view(-1)
        flat[1], flat[4] = delta, -delta
    target = x - d
    return x.to(device=device, dtype=dtype), target.to(device=device, dtype=dtype)


def _reduce(loss, reduction):
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def _formula(d, delta, reduction, *, scale=1.0, lin=None, half=0.5, signed=False):
    a = d.abs()
    inside = (d if signed else a) < delta
    linear = delta * (a - 0.5 * delta) if lin is None else lin(a)
    return _reduce(torch.where(inside, half * a * a, linear) * scale, reduction)


def _variants(inp, target, delta, reduction):
    d = inp.detach().to("cpu", torch.float64) - target.detach().to("cpu", torch.float64)
    found = [
        (
            (
                "this is smooth L1 (Huber divided by delta: 0.5·d²/delta in the band, |d| - "
                "0.5·delta outside): Huber is 0.5·d² inside and delta·(|d| - 0.5·delta) outside"
            ),
            _formula(d, delta, reduction, scale=1 / delta),
        ),
        (
            (
                "the linear piece leaves out the factor delta: it is delta·(|d| - 0.5·delta), "
                "slope delta, meeting 0.5·d² at |d| = delta"
            ),
            _formula(d, delta, reduction, lin=lambda a: a - 0.5 * delta),
        ),
        (
            f"delta was ignored: the loss matches delta=1, not delta={delta:g}",
            _formula(d, 1.0, reduction),
        ),
        (
            "the quadratic piece is missing its ½: 0.5·d² where |d| < delta",
            _formula(d, delta, reduction, half=1.0),
        ),
        (
            (
                "the band test compares d with delta instead of |d|: negative differences beyond "
                "-delta must take the linear piece too"
            ),
            _formula(d, delta, reduction, signed=True),
        ),
        (
            "the linear piece subtracts delta² instead of ½·delta²: delta·(|d| - 0.5·delta)",
            _formula(d, delta, reduction, lin=lambda a: delta * a - delta**2),
        ),
        (
            "the linear piece subtracts ½·delta instead of ½·delta²: delta·(|d| - 0.5·delta)",
            _formula(d, delta, reduction, lin=lambda a: delta * a - 0.5 * delta),
        ),
        (
            (
                "the linear piece is delta·|d| without the offset -½·delta²: the two pieces must "
                "meet at |d| = delta"
            ),
            _formula(d, delta, reduction, lin=lambda a: delta * a),
        ),
    ]
    if reduction == "mean":
        found.append(
            (
                "reduction='mean' returned the sum: divide by the number of elements",
                _formula(d, delta, "sum"),
            )
        )
    if reduction == "sum":
        found.append(
            (
                "reduction='sum' returned the mean: add the losses up",
                _formula(d, delta, "mean"),
            )
        )
    return found


def _call(impl, inp, target, **kwargs):
    before = inp.detach().clone(), target.detach().clone()
    out = call(impl.huber_loss, inp, target, **kwargs, what="huber_loss")
    assert_unchanged(before[0], inp, "input")
    assert_unchanged(before[1], target, "target")
    return out


def _check(out, inp, target, delta, reduction, context):
    expected = F.huber_loss(
        inp.detach().to("cpu", torch.float64),
        target.detach().to("cpu", torch.float64),
        reduction=reduction,
        delta=delta,
    ).to(device=inp.device, dtype=inp.dtype)
    tol_dtype = torch.float32 if inp.dtype == torch.float64 else inp.dtype
    atol, rtol = tolerance(tol_dtype)
    if (
        reduction == "none"
        and inp.dim()
        and isinstance(out, torch.Tensor)
        and out.shape == ()
    ):
        raise AssertionError(
            f"huber_loss(reduction='none') [{context}]: got a 0-dim tensor, expected the "
            f"elementwise losses of shape {tuple(inp.shape)}"
        )
    if reduction != "none" and isinstance(out, torch.Tensor) and out.shape != ():
        raise AssertionError(
            f"huber_loss(reduction={reduction!r}) [{context}]: expected a 0-dim tensor, got "
            f"shape {tuple(out.shape)}"
        )
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(inp, target, delta, reduction),
        what=f"huber_loss(reduction={reduction!r}, delta={delta:g})",
        atol=atol,
        rtol=rtol,
        context=context,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "delta", [None, 0.5, 2.5, 0.1], ids=["default", "0.5", "2.5", "0.1"]
)
def test_matches_torch(impl, device, reduction, delta):
    value = 1.0 if delta is None else delta
    inp, target = _inputs((4, 7), seed=int(value * 10), device=device, delta=value)
    kwargs = {"reduction": reduction}
    if delta is not None:
        kwargs["delta"] = delta
    out = _call(impl, inp, target, **kwargs)
    _check(out, inp, target, value, reduction, f"(4, 7) inputs, delta={value:g}")


def test_defaults_are_delta_1_and_mean(impl, device):
    inp, target = _inputs((3, 8), seed=1, device=device, delta=1.0)
    out = _call(impl, inp, target)
    _check(out, inp, target, 1.0, "mean", "huber_loss(input, target), no keywords")
    inp, target = _inputs((10,), seed=2, device=device, delta=1.5)
    out = call(impl.huber_loss, inp, target, 1.5, "sum", what="huber_loss")
    _check(out, inp, target, 1.5, "sum", "delta and reduction passed positionally")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_shapes(impl, device, reduction):
    for shape, seed in (((), 3), ((9,), 4), ((2, 3, 5), 5)):
        inp, target = _inputs(shape, seed=seed, device=device, delta=0.8)
        out = _call(impl, inp, target, delta=0.8, reduction=reduction)
        _check(out, inp, target, 0.8, reduction, f"inputs of shape {shape}, delta=0.8")
    inp, target = _inputs((6, 5), seed=6, device=device, delta=0.8)
    inp, target = inp.t(), target.t()
    out = _call(impl, inp, target, delta=0.8, reduction=reduction)
    _check(out, inp, target, 0.8, reduction, "transposed (5, 6) views, delta=0.8")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtypes(impl, device, dtype):
    inp, target = _inputs((5, 6), seed=7, device=device, delta=0.7, dtype=dtype)
    for reduction in REDUCTIONS:
        out = _call(impl, inp, target, delta=0.7, reduction=reduction)
        _check(out, inp, target, 0.7, reduction, f"{dtype} inputs, delta=0.7")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradients(impl, device, reduction):
    inp, target = _inputs((4, 6), seed=8, device=device, delta=0.7)
    # keep clear of the kink at |d| = delta, where one-sided gradients may legitimately differ
    d = inp - target
    target = torch.where((d.abs() - 0.7).abs() < 1e-3, target + 0.01, target)
    inp.requires_grad_()
    target.requires_grad_()
    out = _call(impl, inp, target, delta=0.7, reduction=reduction)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the loss does not require grad: keep it on the autograd graph (no detach(), no "
        "torch.no_grad())"
    )
    upstream = torch.randn(out.shape, generator=generator(9), dtype=torch.float64)
    (out * upstream.to(device=device, dtype=out.dtype)).sum().backward()
    i64 = inp.detach().to("cpu", torch.float64).requires_grad_()
    t64 = target.detach().to("cpu", torch.float64).requires_grad_()
    ref = F.huber_loss(i64, t64, reduction=reduction, delta=0.7)
    (ref * upstream).sum().backward()
    for name, got, want in (
        ("input", inp.grad, i64.grad),
        ("target", target.grad, t64.grad),
    ):
        assert got is not None, f"no gradient reached `{name}`: is it detached?"
        assert_close(
            got,
            want.to(device=device, dtype=torch.float32),
            what=f"gradient of `{name}`",
            context=f"reduction={reduction!r}, delta=0.7",
        )
