"""Verifier for RMSNorm: against a float64 formula and torch's nn.RMSNorm with the same weight.

On a failed comparison the message names the classic mistake the output matches, if any: each
is computed from the formula in float64 (centring, no weight, eps outside the square root, the
wrong axis, another eps, squares in half precision) and named only when the output equals it
within the test's tolerance while the right answer does not."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    generator,
    tolerance,
)

SHAPES = [(1, 1, 8), (2, 7, 33), (3, 5), (4, 2, 3, 64)]
DEFAULT_EPS = 1e-6


def expected_rmsnorm(x, weight, eps):
    x64 = x.double()
    y = x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + eps) * weight.double()
    return y.to(x.dtype)


def _variants(x, weight, eps, upstream=None, eps_matters=False):
    """{a classic mistake in the user's terms: the output it gives}, float64 on the CPU; with
    `upstream`, the gradient of sum(output * upstream) w.r.t. x instead. `eps_matters` adds
    the outputs for other values of eps."""
    dtype = x.dtype
    x = x.detach().to("cpu", torch.float64).requires_grad_(upstream is not None)
    w = weight.detach().to("cpu", torch.float64)

    def rms_norm(v, dims=(-1,), e=eps):
        return v * torch.rsqrt(v.pow(2).mean(dims, keepdim=True) + e)

    centred = x - x.mean(-1, keepdim=True)
    found = {
        "the input was centred (mean subtracted) as in LayerNorm: RMSNorm only divides by "
        "the root mean square, mean(x²) over the last dim, with no mean subtraction": rms_norm(
            centred
        )
        * w,
        "`weight` was not applied: multiply the normalised x by weight": rms_norm(x),
        "eps was added outside the square root, x / (sqrt(mean(x²)) + eps): it belongs "
        "inside, x / sqrt(mean(x²) + eps)": x
        / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps)
        * w,
    }
    axes: list[tuple[list[int], torch.Tensor]] = []  # dims that give the same output
    for d in range(x.dim() - 1):
        out = rms_norm(x, (d,)) * w
        same = next((dims for dims, o in axes if torch.equal(o, out)), None)
        if same is None:
            axes.append(([d], out))
        else:
            same.append(d)
    for dims, out in axes:
        where = " or ".join(str(d) for d in dims)
        why = (
            f"mean(x²) was taken over dim {where} of the input of shape {tuple(x.shape)}, "
            "not over the last dim: RMSNorm normalises each vector of the last dim on its own"
        )
        found[why] = out
    if x.dim() > 1:
        why = (
            "mean(x²) was taken over every element, not over the last dim: RMSNorm "
            "normalises each vector of the last dim on its own"
        )
        found[why] = rms_norm(x, tuple(range(x.dim()))) * w
    if eps_matters:
        if eps != 0.0:
            why = (
                "eps is missing: the output matches x / sqrt(mean(x²)) * weight, no eps"
            )
            found[why] = rms_norm(x, e=0.0) * w
        for other in (1e-5, DEFAULT_EPS):
            if other != eps:
                why = (
                    f"the output matches eps={other:g}, not eps={eps:g}: use the eps "
                    f"argument (default {DEFAULT_EPS:g})"
                )
                found[why] = rms_norm(x, e=other) * w
    if dtype in (torch.float16, torch.bfloat16):
        name = str(dtype).replace("torch.", "")
        # overflow to inf, as in half precision
        squares = x.detach().to(dtype).pow(2).double()
        why = (
            f"mean(x²) was computed in {name} and overflowed (x² is inf beyond "
            f"{torch.finfo(dtype).max:g}): compute the statistics in float32"
        )
        found[why] = x * torch.rsqrt(squares.mean(-1, keepdim=True) + eps) * w
    if upstream is None:
        return {why: out.detach() for why, out in found.items()}
    up = upstream.detach().to("cpu", torch.float64)
    return {
        why: torch.autograd.grad((out * up).sum(), x)[0] for why, out in found.items()
    }


def _compare(out, expected, x, module, eps, context, what="output", **kwargs):
    """assert_close; on failure, the diagnosis of the known mistakes appended."""
    atol, rtol = tolerance(expected.dtype)
    atol, rtol = kwargs.get("atol", atol), kwargs.get("rtol", rtol)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(
            x,
            module.weight,
            eps,
            kwargs.get("upstream"),
            kwargs.get("eps_matters", False),
        ),
        what=what,
        atol=atol,
        rtol=rtol,
        context=context,
    )


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
    reference = torch.nn.RMSNorm(shape[-1], eps=DEFAULT_EPS).to(device)
    with torch.no_grad():
        reference.weight.copy_(module.weight)
    before = x.clone()
    out = module(x)
    assert_unchanged(before, x, "x")
    _compare(out, reference(x), x, module, DEFAULT_EPS, f"x of shape {tuple(shape)}")


@pytest.mark.parametrize("eps", [1e-6, 0.1, 1.0])
def test_eps_with_small_inputs(impl, device, eps):
    module = make(impl, 16, device, eps=eps)
    # First where eps is negligible (inside or outside the square root): a failure there is
    # not about eps, and says so.
    scale = max(3.0, 1e6 * eps)
    large = torch.randn(3, 16, generator=generator(2)).to(device) * scale
    _compare(
        module(large),
        expected_rmsnorm(large, module.weight, eps),
        large,
        module,
        eps,
        f"eps={eps}, |x| ~ {scale:g} where eps is negligible: the output is wrong before "
        "eps matters",
    )
    # Small inputs make eps matter: x / sqrt(ms + eps) differs from x / (sqrt(ms) + eps).
    x = torch.randn(3, 16, generator=generator(3)).to(device) * 0.05
    _compare(
        module(x),
        expected_rmsnorm(x, module.weight, eps),
        x,
        module,
        eps,
        f"eps={eps}, |x| ~ 0.05 where eps matters",
        eps_matters=True,
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_keeps_dtype_and_does_not_overflow(impl, device, dtype):
    # |x| up to ~1000: x² overflows float16 unless the statistics are computed in float32.
    x = (torch.randn(4, 48, generator=generator(4)) * 400).to(
        device=device, dtype=dtype
    )
    module = make(impl, 48, device, dtype=dtype)
    expected = expected_rmsnorm(x, module.weight, DEFAULT_EPS)
    _compare(module(x), expected, x, module, DEFAULT_EPS, f"{dtype} input, |x| ~ 400")


def test_default_eps_is_1e_6(impl, device):
    x = torch.randn(2, 8, generator=generator(5)).to(device) * 1e-3
    module = make(impl, 8, device)
    _compare(
        module(x),
        expected_rmsnorm(x, module.weight, DEFAULT_EPS),
        x,
        module,
        DEFAULT_EPS,
        "default eps, |x| ~ 1e-3",
        eps_matters=True,
    )


def test_gradients_reach_input_and_weight(impl, device):
    x = torch.randn(2, 3, 16, generator=generator(6)).to(device).requires_grad_()
    module = make(impl, 16, device)
    ref_x = x.detach().clone().requires_grad_()
    ref_w = module.weight.detach().clone().requires_grad_()
    upstream = torch.randn(2, 3, 16, generator=generator(7)).to(device)
    (module(x) * upstream).sum().backward()
    (expected_rmsnorm(ref_x, ref_w, DEFAULT_EPS) * upstream).sum().backward()
    assert x.grad is not None, "no gradient reached the input: is the output detached?"
    assert module.weight.grad is not None, (
        "no gradient reached `weight`: is the weight applied to the output?"
    )
    _compare(
        x.grad,
        ref_x.grad,
        x,
        module,
        DEFAULT_EPS,
        "",
        what="gradient of x",
        atol=1e-4,
        rtol=1e-3,
        upstream=upstream,
    )
    assert_close(
        module.weight.grad, ref_w.grad, what="gradient of weight", atol=1e-4, rtol=1e-3
    )
