"""Verifier for SiLUFunction: a torch.autograd.Function whose own backward produces the
gradient (the output's grad_fn is its node), compared with F.silu in float64 for the output and
the gradient, gradcheck in float64, every dtype, |x| up to 1e4 (no NaN), non-contiguous input,
input untouched.

A failed gradient names the classic mistakes: sigmoid(x) alone (the x·σ'(x) term dropped),
grad_output not multiplied in, σ' written as σ instead of σ(1 − σ), or x·σ(x)(1 − σ(x))
without the σ(x) term."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    randn,
    tolerance,
)


def _fn(impl):
    cls = getattr(impl, "SiLUFunction", None)
    assert isinstance(cls, type) and issubclass(cls, torch.autograd.Function), (
        "SiLUFunction must be a class that subclasses torch.autograd.Function"
    )
    assert cls.backward is not torch.autograd.Function.backward, (
        "SiLUFunction has no backward of its own: write the backward staticmethod by hand"
    )
    return cls


def _apply(impl, x):
    return call(_fn(impl).apply, x, what="SiLUFunction.apply")


def _inputs(shape, seed, device, dtype, big=False):
    x = randn(shape, seed, device, torch.float64, scale=3.0)
    if big:  # huge magnitudes of both signs, where a hand-written exp overflows
        flat = x.view(-1)
        flat[0::4] = 1e4
        flat[1::4] = -1e4
        flat[2::4] *= 100.0
    return x.to(dtype)


def _expected(x):
    return F.silu(x.detach().cpu().double()).to(device=x.device, dtype=x.dtype)


def _expected_grad(x, up):
    ref = x.detach().cpu().double().requires_grad_()
    (F.silu(ref) * up.detach().cpu().double()).sum().backward()
    return ref.grad


def _grad_variants(x, up):
    def build():
        x64 = x.detach().cpu().double()
        u = up.detach().cpu().double()
        s = torch.sigmoid(x64)
        right = s * (1 + x64 * (1 - s))
        return {
            "the gradient is sigmoid(x) alone: d/dx[x·σ(x)] = σ(x) + x·σ(x)(1 − σ(x)); the "
            "x·σ'(x) term is missing": u * s,
            "grad_output was not multiplied in: backward must return grad_output * "
            "dy/dx (the chain rule)": right,
            "σ'(x) was written as σ(x): the derivative of sigmoid is σ(x)(1 − σ(x))": u
            * (s + x64 * s),
            "the σ(x) term is missing: d/dx[x·σ(x)] = σ(x) + x·σ(x)(1 − σ(x)), not only "
            "x·σ(x)(1 − σ(x))": u * x64 * s * (1 - s),
        }

    return build


def _grad(impl, x, up):
    x = x.detach().clone().requires_grad_()
    y = _apply(impl, x)
    assert isinstance(y, torch.Tensor), (
        f"SiLUFunction.apply returned {type(y).__name__}, expected a tensor"
    )
    assert y.grad_fn is not None, (
        "the output has no grad_fn: SiLUFunction.apply(x) must be differentiable (is the "
        "output detached?)"
    )
    node = type(y.grad_fn).__name__
    assert node == "SiLUFunctionBackward", (
        f"the output's grad_fn is {node}, not SiLUFunction's backward: return the forward's "
        "result directly from forward, so that autograd calls your backward"
    )
    (g,) = torch.autograd.grad(y, x, up)
    return g


def test_is_an_autograd_function_with_its_own_backward(impl, device):
    _fn(impl)
    x = randn((5,), 0, device).requires_grad_()
    _grad(impl, x, torch.ones_like(x))


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16]
)
@pytest.mark.parametrize("shape", [(7,), (3, 5, 4)], ids=["1d", "3d"])
def test_forward_matches_silu(impl, device, dtype, shape):
    x = _inputs(shape, 1, device, dtype)
    before = x.clone()
    out = _apply(impl, x)
    assert_unchanged(before, x, "x")
    assert_close_diagnosed(
        out,
        _expected(x),
        lambda: {
            "the output is sigmoid(x), not x * sigmoid(x)": torch.sigmoid(x.double()),
            "the output is x * (1 - sigmoid(x)): SiLU is x * sigmoid(x)": x.double()
            * torch.sigmoid(-x.double()),
        },
        context=f"{dtype}, shape {shape}",
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_no_nan_at_large_inputs(impl, device, dtype):
    try:
        _large_inputs(impl, device, dtype)
    except AssertionError as exc:
        if "got nan" in str(exc) or "got inf" in str(exc):
            raise AssertionError(
                f"{exc}\nlikely bug: exp(±x) overflowed to inf, then inf/inf or inf*0 gave "
                "NaN: use torch.sigmoid, or exp(-|x|) on each side of 0"
            ) from None
        raise


def _large_inputs(impl, device, dtype):
    x = _inputs((4, 8), 2, device, dtype, big=True)
    out = _apply(impl, x)
    assert_close(
        out,
        _expected(x),
        context=f"{dtype}, |x| up to 1e4 of both signs",
    )
    if dtype == torch.float16:
        return
    up = randn((4, 8), 3, device, dtype)
    atol, rtol = tolerance(dtype)
    assert_close_diagnosed(
        _grad(impl, x, up),
        _expected_grad(x, up).to(device=device, dtype=dtype),
        _grad_variants(x, up),
        what="gradient of x",
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, |x| up to 1e4 of both signs",
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_matches_silu(impl, device, dtype):
    x = _inputs((6, 5), 4, device, dtype)
    up = randn((6, 5), 5, device, dtype)
    atol, rtol = tolerance(dtype)
    assert_close_diagnosed(
        _grad(impl, x, up),
        _expected_grad(x, up).to(device=device, dtype=dtype),
        _grad_variants(x, up),
        what="gradient of x",
        atol=atol,
        rtol=rtol,
        context=f"{dtype}, random grad_output",
    )


def test_gradient_non_contiguous_input(impl, device):
    base = randn((6, 8), 6, device, torch.float64, scale=3.0)
    x = base.t()[1:, ::2]  # a non-contiguous view
    up = randn(tuple(x.shape), 7, device, torch.float64)
    assert_close_diagnosed(
        _grad(impl, x, up),
        _expected_grad(x, up).to(device),
        _grad_variants(x, up),
        what="gradient of x",
        context="float64, a transposed, strided input",
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_gradient(impl, device, dtype):
    x = _inputs((5, 6), 8, device, dtype)
    up = randn((5, 6), 9, device, dtype)
    g = _grad(impl, x, up)
    atol, rtol = tolerance(dtype)
    assert_close_diagnosed(
        g,
        _expected_grad(x, up).to(device=device, dtype=dtype),
        _grad_variants(x, up),
        what="gradient of x",
        atol=atol * 4,
        rtol=rtol * 2,
        context=f"{dtype}",
    )


def test_gradcheck_float64(impl, device):
    # gradcheck's test written out (torch.autograd.gradcheck itself imports sympy on first
    # use, seconds per verdict): the backward's vector-Jacobian product against central
    # finite differences of the forward, in float64, along random directions and per element.
    fn = _fn(impl)
    for seed in (10, 11):
        x = randn((3, 4), seed, device, torch.float64, scale=2.0)
        up = randn((3, 4), seed + 100, device, torch.float64)
        with torch.no_grad():
            y = fn.apply(x)
        exact = isinstance(y, torch.Tensor) and y.dtype == torch.float64
        assert exact and torch.allclose(
            y, x * torch.sigmoid(x), atol=1e-12, rtol=1e-12
        ), (
            "the forward is not float64-exact for a float64 x (computed in float32?): keep "
            "x's dtype through the forward; finite differences of a rounded forward are noise"
        )
        analytic = _grad(impl, x, up)
        eps = 1e-6
        with torch.no_grad():
            # elementwise
            numeric = (fn.apply(x + eps) - fn.apply(x - eps)) / (2 * eps) * up
        assert_close(
            analytic,
            numeric,
            what="gradient of x",
            atol=1e-6,
            rtol=1e-5,
            context="float64 finite differences (what gradcheck checks): the hand-written "
            "backward disagrees with the forward",
        )
        for k in range(3):
            v = randn((3, 4), seed + 200 + k, device, torch.float64)
            with torch.no_grad():
                jvp = (fn.apply(x + eps * v) - fn.apply(x - eps * v)) / (2 * eps)
            got = float((analytic * v).sum())
            want = float((jvp * up).sum())
            assert abs(got - want) <= 1e-6 + 1e-5 * abs(want), (
                "float64 finite differences (what gradcheck checks): along a random direction "
                f"the backward gives {got:.8g}, the forward's differences {want:.8g}"
            )


def test_gradients_accumulate_through_a_graph(impl, device):
    # SiLU used inside a bigger graph, twice on the same tensor, gradients add up.
    w = randn((4,), 12, device, torch.float64).requires_grad_()
    x = randn((3, 4), 13, device, torch.float64)
    fn = _fn(impl)
    z = x * w
    loss = (fn.apply(z) + fn.apply(2 * z)).pow(2).sum()
    (g,) = torch.autograd.grad(loss, w)
    ref_w = w.detach().cpu().requires_grad_()
    rz = x.cpu() * ref_w
    (F.silu(rz) + F.silu(2 * rz)).pow(2).sum().backward()
    assert_close(
        g,
        ref_w.grad.to(device),
        what="gradient of w",
        context="loss = sum((silu(x·w) + silu(2·x·w))²)",
    )
