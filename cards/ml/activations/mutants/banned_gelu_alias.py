# expect: uses banned `torch.nn.functional.gelu`
import torch
from torch.nn.functional import gelu as _g


def gelu(x, approximate="none"):
    return _g(x, approximate=approximate)  # bug: not from scratch


def silu(x):
    return x * torch.sigmoid(x)


def leaky_relu(x, negative_slope=0.01):
    return torch.where(x > 0, x, negative_slope * x)
