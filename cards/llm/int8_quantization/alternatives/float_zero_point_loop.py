"""Alternative: a Python loop over the channels (index_select on dim), statistics as 0-dim or
1-D tensors reshaped for broadcasting at the end, the zero point an integer-valued float
tensor, and a dequantize computed in float64 then cast to the scale's dtype."""

import torch


def _per_channel(x, dim, stat):
    if dim is None:
        return stat(x)
    vals = [stat(x.select(dim, i)) for i in range(x.shape[dim])]
    shape = [1] * x.dim()
    shape[dim] = -1
    return torch.stack(vals).reshape(shape)


def quantize_absmax(x, dim=None):
    scale = _per_channel(x, dim, lambda t: t.abs().max()) / 127.0
    q = torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8)
    return q, scale


def quantize_zeropoint(x, dim=None):
    mn = torch.minimum(_per_channel(x, dim, torch.min), torch.zeros(()).to(x))
    mx = torch.maximum(_per_channel(x, dim, torch.max), torch.zeros(()).to(x))
    scale = (mx - mn) / 255.0
    zero_point = torch.clamp(-128.0 - torch.round(mn / scale), -128, 127)
    q = torch.clamp(torch.round(x / scale + zero_point), -128, 127).to(torch.int8)
    return q, scale, zero_point


def dequantize(q, scale, zero_point=None):
    out = q.double()
    if zero_point is not None:
        out = out - zero_point.double()
    return (out * scale.double()).to(scale.dtype)
