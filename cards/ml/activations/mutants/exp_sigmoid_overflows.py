# expect: overflows to inf/inf = NaN for large x
import math

import torch


def gelu(x, approximate="none"):
    v = x.float()
    if approximate == "tanh":
        y = 0.5 * v * (1 + torch.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
    else:
        y = 0.5 * v * (1 + torch.erf(v / math.sqrt(2)))
    return y.to(x.dtype)


def silu(x):
    e = torch.exp(x)  # bug: exp(x) / (1 + exp(x)) is inf / inf beyond x ~ 88
    return x * e / (1 + e)


def leaky_relu(x, negative_slope=0.01):
    return torch.where(x > 0, x, negative_slope * x)
