# expect: erf(x) was used instead of erf(x / √2)
import math

import torch


def gelu(x, approximate="none"):
    v = x.float()
    if approximate == "tanh":
        y = 0.5 * v * (1 + torch.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
    else:
        y = 0.5 * v * (1 + torch.erf(v))  # bug: Phi(x) needs erf(x / sqrt(2))
    return y.to(x.dtype)


def silu(x):
    return (x.float() * torch.sigmoid(x.float())).to(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    return torch.where(x > 0, x, negative_slope * x)
