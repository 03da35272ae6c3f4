"""Alternative: x * (127 / absmax) rounded half away from zero by hand; zero-point over the data's
own [min, max] (0 not forced into the range) with zero_point = 127 - round(max / scale) kept as
int64; statistics per channel by moving dim to the front and flattening the rest."""

import torch


def _stats(x, dim, fn):
    if dim is None:
        return fn(x.reshape(-1), dim=0)
    moved = x.movedim(dim, 0).reshape(x.shape[dim], -1)
    shape = [1] * x.dim()
    shape[dim] = x.shape[dim]
    return fn(moved, dim=1).reshape(shape)


def _round_half_away(v):
    return torch.sign(v) * torch.floor(v.abs() + 0.5)


def quantize_absmax(x, dim=None):
    amax = _stats(x.abs(), dim, lambda t, dim: t.max(dim=dim).values)
    q = _round_half_away(x * (127 / amax)).clamp(-127, 127).to(torch.int8)
    return q, amax / 127


def quantize_zeropoint(x, dim=None):
    lo = _stats(x, dim, lambda t, dim: t.min(dim=dim).values)
    hi = _stats(x, dim, lambda t, dim: t.max(dim=dim).values)
    scale = (hi - lo) / 255.0
    zero_point = (127 - torch.round(hi / scale)).to(torch.int64)
    q = torch.clamp(torch.round(x / scale) + zero_point, -128, 127).to(torch.int8)
    return q, scale, zero_point


def dequantize(q, scale, zero_point=None):
    zp = 0 if zero_point is None else zero_point
    return (q.to(torch.int64) - zp).to(scale.dtype) * scale
