# expect: max(x, negative_slope·x) is only leaky ReLU for slopes up to 1
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
    return (x.float() * torch.sigmoid(x.float())).to(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    return torch.maximum(x, negative_slope * x)  # bug: wrong for slopes > 1 or < 0
