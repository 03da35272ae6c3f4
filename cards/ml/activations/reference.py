"""GELU (exact and tanh), SiLU and LeakyReLU, as torch.nn.functional's."""

import math

import torch


def _up(x: torch.Tensor) -> torch.Tensor:
    # float32 at least inside (half-precision erf / tanh lose digits); float64 stays float64
    return x.to(torch.promote_types(x.dtype, torch.float32))


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    v = _up(x)
    if approximate == "none":
        # erf saturates at ±1, so very negative x gives x * 0 = 0, never NaN
        y = 0.5 * v * (1.0 + torch.erf(v / math.sqrt(2.0)))
    elif approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (v + 0.044715 * v.pow(3))
        # torch.tanh saturates; exp-based tanh is inf/inf
        y = 0.5 * v * (1.0 + torch.tanh(inner))
    else:
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return y.to(x.dtype)


def silu(x: torch.Tensor) -> torch.Tensor:
    v = _up(x)
    # torch.sigmoid is stable both ways; exp(x) / (1 + exp(x)) is inf/inf for x > 88
    return (v * torch.sigmoid(v)).to(x.dtype)


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    # where, not max(x, slope * x): the max form is wrong for slopes above 1 or below 0
    return torch.where(x > 0, x, x * negative_slope)
