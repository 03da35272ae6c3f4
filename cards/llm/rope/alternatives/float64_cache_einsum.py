"""A cos/sin table built in float64 with einsum and exp/log, then the two halves rotated by hand."""

import math

import torch


def apply_rope(x, positions=None, base=10000.0):
    T, D = x.shape[-2], x.shape[-1]
    half = D // 2
    if positions is None:
        positions = torch.arange(T)
    pos = positions.to(device=x.device, dtype=torch.float64)
    inv_freq = torch.exp(
        -math.log(base)
        * torch.arange(half, device=x.device, dtype=torch.float64)
        * 2
        / D
    )
    theta = torch.einsum("t,f->tf", pos, inv_freq)
    cos, sin = theta.cos(), theta.sin()
    x1, x2 = x[..., :half].double(), x[..., half:].double()
    out = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.to(x.dtype)
