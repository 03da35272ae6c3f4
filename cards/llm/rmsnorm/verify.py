"""Verifier for RMSNorm: against a float64 formula and torch's nn.RMSNorm with the same weight."""

import pytest
import torch

from cards.checks import assert_close, assert_unchanged, generator, tolerance

SHAPES = [(1, 1, 8), (2, 7, 33), (3, 5), (4, 2, 3, 64)]


def expected_rmsnorm(x, weight, eps):
    x64 = x.double()
    y = x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + eps) * weight.double()
    return y.to(x.dtype)


def make(impl, dim, device, dtype=torch.float32, eps=None, seed=0):
    module = impl.RMSNorm(dim) if eps is None else impl.RMSNorm(dim, eps=eps)
    module = module.to(device=device, dtype=dtype)
    assert isinstance(getattr(module, "weight", None), torch.nn.Parameter), (
        "RMSNorm needs a learnable nn.Parameter named `weight`"
    )
    assert tuple(module.weight.shape) == (dim,), (
        f"weight shape: expected ({dim},), got {tuple(module.weight.shape)}"
    )
    assert torch.all(module.weight == 1), "weight must be initialised to ones"
    with torch.no_grad():  # a non-trivial weight, so ignoring it shows
        module.weight.copy_(torch.rand(dim, generator=generator(seed)) + 0.5)
    return module


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_rmsnorm(impl, device, shape, seed):
    x = torch.randn(shape, generator=generator(seed)).to(device) * 3
    module = make(impl, shape[-1], device, seed=seed)
    reference = torch.nn.RMSNorm(shape[-1], eps=1e-6).to(device)
    with torch.no_grad():
        reference.weight.copy_(module.weight)
    before = x.clone()
    out = module(x)
    assert_unchanged(before, x, "x")
    assert_close(out, reference(x), context=f"x of shape {tuple(shape)}")


@pytest.mark.parametrize("eps", [1e-6, 0.1, 1.0])
def test_eps_inside_the_square_root(impl, device, eps):
    # Small inputs make eps matter: x / sqrt(ms + eps) differs from x / (sqrt(ms) + eps).
    x = torch.randn(3, 16, generator=generator(3)).to(device) * 0.05
    module = make(impl, 16, device, eps=eps)
    assert_close(
        module(x), expected_rmsnorm(x, module.weight, eps), context=f"eps={eps}"
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_keeps_dtype_and_does_not_overflow(impl, device, dtype):
    # |x| up to ~1000: x² overflows float16 unless the statistics are computed in float32.
    x = (torch.randn(4, 48, generator=generator(4)) * 400).to(
        device=device, dtype=dtype
    )
    module = make(impl, 48, device, dtype=dtype)
    atol, rtol = tolerance(dtype)
    expected = expected_rmsnorm(x, module.weight, 1e-6)
    assert_close(
        module(x), expected, atol=atol, rtol=rtol, context=f"{dtype} input, |x| ~ 400"
    )


def test_default_eps_is_1e_6(impl, device):
    x = torch.randn(2, 8, generator=generator(5)).to(device) * 1e-3
    module = make(impl, 8, device)
    assert_close(
        module(x),
        expected_rmsnorm(x, module.weight, 1e-6),
        context="default eps, |x| ~ 1e-3",
    )


def test_gradients_reach_input_and_weight(impl, device):
    x = torch.randn(2, 3, 16, generator=generator(6)).to(device).requires_grad_()
    module = make(impl, 16, device)
    ref_x = x.detach().clone().requires_grad_()
    ref_w = module.weight.detach().clone().requires_grad_()
    upstream = torch.randn(2, 3, 16, generator=generator(7)).to(device)
    (module(x) * upstream).sum().backward()
    (expected_rmsnorm(ref_x, ref_w, 1e-6) * upstream).sum().backward()
    assert x.grad is not None, "no gradient reached the input: is the output detached?"
    assert module.weight.grad is not None, "no gradient reached `weight`"
    assert_close(x.grad, ref_x.grad, what="gradient of x", atol=1e-4, rtol=1e-3)
    assert_close(
        module.weight.grad, ref_w.grad, what="gradient of weight", atol=1e-4, rtol=1e-3
    )
