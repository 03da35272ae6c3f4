# Written independently of this card's verifier, from the contract alone.
# int8 quantisation with the channel dim moved to the front and the rest flattened, so every
# statistic is one reduction over axis 1 and is then viewed back to a broadcastable shape.
# Rounding is half away from zero (sign(x) * floor(|x| + 0.5)) rather than torch.round's half-to-even.
# Zero-point: the range is widened to include 0 (min(x_min, 0), max(x_max, 0)), as torch's
# MinMaxObserver does, so 0 is exactly representable; q = clamp(round(x / s) + zp, -128, 127).
# scale is float32, zero_point an int32 tensor; an all-zero channel gets scale 1 to avoid 0/0.
import torch


def _stats(x, dim, fn):
    if dim is None:
        return fn(x.reshape(1, -1)).reshape([1] * x.dim())  # per-tensor: all-ones shape
    d = dim % x.dim()
    moved = x.movedim(d, 0).reshape(x.shape[d], -1)
    shape = [1] * x.dim()
    shape[d] = x.shape[d]
    return fn(moved).reshape(shape)


def _round(t):
    return torch.sign(t) * torch.floor(t.abs() + 0.5)


def quantize_absmax(x, dim=None):
    xf = x.float()
    amax = _stats(xf, dim, lambda m: m.abs().max(dim=1).values)
    scale = amax / 127.0
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = _round(xf / safe).clamp(-127, 127).to(torch.int8)
    return q, scale


def quantize_zeropoint(x, dim=None):
    xf = x.float()
    lo = _stats(xf, dim, lambda m: m.min(dim=1).values).clamp(max=0.0)
    hi = _stats(xf, dim, lambda m: m.max(dim=1).values).clamp(min=0.0)
    scale = (hi - lo) / 255.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zp = (-128 - _round(lo / scale)).clamp(-128, 127)
    q = (_round(xf / scale) + zp).clamp(-128, 127).to(torch.int8)
    return q, scale, zp.to(torch.int32)


def dequantize(q, scale, zero_point=None):
    qf = q.to(torch.float32)
    if zero_point is not None:
        qf = qf - zero_point.to(torch.float32)
    return qf * scale
