"""Everything in float64: exact GELU through erfc (x·½·erfc(-x/√2), accurate in the far left
tail), the tanh form through exp of a negative argument only, a sigmoid split by sign, and
leaky ReLU as relu(x) - slope·relu(-x)."""

import math

import torch


def _stable_sigmoid(v):
    z = torch.exp(-v.abs())  # never overflows
    return torch.where(v >= 0, 1 / (1 + z), z / (1 + z))


def gelu(x, approximate="none"):
    v = x.double()
    if approximate == "tanh":
        u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
        # ½(1 + tanh(u)) = sigmoid(2u)
        y = v * _stable_sigmoid(2 * u)
    else:
        y = v * 0.5 * torch.erfc(-v / math.sqrt(2))
    return y.to(x.dtype)


def silu(x):
    v = x.double()
    return (v * _stable_sigmoid(v)).to(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    v = x.double()
    return (v.clamp(min=0) - negative_slope * (-v).clamp(min=0)).to(x.dtype)
