# Another style, by the card's author:
# the input's own dtype except for half precision.
import math

import torch


def gelu(x, approximate="none"):
    h = x.dtype in (torch.float16, torch.bfloat16)
    t = x.float() if h else x
    if approximate == "none":
        out = t * torch.special.ndtr(t)
    elif approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        out = 0.5 * t * (1.0 + torch.tanh(k * t * (1.0 + 0.044715 * t * t)))
    else:
        raise ValueError(approximate)
    return out.to(x.dtype) if h else out


def silu(x):
    h = x.dtype in (torch.float16, torch.bfloat16)
    t = x.float() if h else x
    out = t * torch.special.expit(t)
    return out.to(x.dtype) if h else out


def leaky_relu(x, negative_slope=0.01):
    pos = (x > 0).to(x.dtype)
    return x * pos + negative_slope * x * (1 - pos)
