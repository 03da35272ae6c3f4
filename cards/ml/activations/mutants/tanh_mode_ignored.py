# expect: approximate='tanh' was ignored
import math

import torch


def gelu(x, approximate="none"):
    v = x.float()
    # bug: approximate is accepted but never used
    return (0.5 * v * (1 + torch.erf(v / math.sqrt(2)))).to(x.dtype)


def silu(x):
    return (x.float() * torch.sigmoid(x.float())).to(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    return torch.where(x > 0, x, negative_slope * x)
