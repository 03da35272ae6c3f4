# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch


def _work_dtype(x):
    # compute low-precision floats in float32, as torch's kernels do internally
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return x.dtype


def gelu(x, approximate="none"):
    xf = x.to(_work_dtype(x))
    if approximate == "none":
        # 0.5 * x * (1 + erf(x / sqrt 2)) == 0.5 * x * erfc(-x / sqrt 2),
        # the erfc form keeps its precision for large negative x
        out = 0.5 * xf * torch.special.erfc(-xf * (1.0 / math.sqrt(2.0)))
    elif approximate == "tanh":
        # 0.5 * (1 + tanh(u)) == sigmoid(2u)
        # the cubic is taken of x clamped to +-1e10 so x^3 cannot overflow in
        # float32 (the sigmoid is long saturated there; its gradient stays finite)
        xc = xf.clamp(-1e10, 1e10)
        u = math.sqrt(2.0 / math.pi) * (xc + 0.044715 * xc * xc * xc)
        out = xf * torch.sigmoid(2.0 * u)
    else:
        raise ValueError(
            f"approximate argument must be either none or tanh, got {approximate!r}"
        )
    return out.to(x.dtype)


def silu(x):
    xf = x.to(_work_dtype(x))
    # x * sigmoid(x) with the sigmoid written from e = exp(-|x|) <= 1, split on
    # the sign of x, so neither the value nor its gradient meets an inf
    e = torch.exp(-xf.abs())
    sig = torch.where(xf >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return (xf * sig).to(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    # multiply by a per-element slope (1 where x > 0, negative_slope elsewhere),
    # in float32 for half types as torch does; the result is a new tensor and the
    # gradient at 0 is negative_slope, as torch's
    xf = x.to(_work_dtype(x))
    slope = torch.where(
        xf > 0, torch.ones_like(xf), torch.full_like(xf, negative_slope)
    )
    return (xf * slope).to(x.dtype)
