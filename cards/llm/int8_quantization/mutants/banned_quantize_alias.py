# expect: uses banned `torch.quantize_per_tensor`
import torch
from torch import quantize_per_tensor as qpt
from torch import quantize_per_channel as qpc


def quantize_absmax(x, dim=None):
    if dim is None:
        scale = x.abs().max() / 127
        q = qpt(x, scale.item(), 0, torch.qint8)  # bug: not from scratch
    else:
        others = [d for d in range(x.dim()) if d != dim]
        scale = x.abs().amax(dim=others, keepdim=True) / 127
        zeros = torch.zeros(x.shape[dim], dtype=torch.long)
        q = qpc(x, scale.reshape(-1).double(), zeros, dim, torch.qint8)
    return q.int_repr(), scale


def quantize_zeropoint(x, dim=None):
    if dim is None:
        lo, hi = x.min().clamp(max=0), x.max().clamp(min=0)
    else:
        others = [d for d in range(x.dim()) if d != dim]
        lo = x.amin(dim=others, keepdim=True).clamp(max=0)
        hi = x.amax(dim=others, keepdim=True).clamp(min=0)
    scale = (hi - lo) / 255
    zero_point = torch.round(-128 - lo / scale).clamp(-128, 127).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(-128, 127).to(torch.int8)
    return q, scale, zero_point


def dequantize(q, scale, zero_point=None):
    q = q.float()
    if zero_point is not None:
        q = q - zero_point
    return q * scale

