"""Conv3d as torch.nn.functional.conv3d (no groups, no dilation): pad, view every window with
Tensor.unfold along D, H and W, and contract the windows with the filters in one einsum.

Left out: groups, dilation, padding modes other than zeros, unbatched input."""

import torch
import torch.nn.functional as F


def _triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def conv3d(input, weight, bias=None, stride=1, padding=0):
    sd, sh, sw = _triple(stride)
    pd, ph, pw = _triple(padding)
    _, _, kd, kh, kw = weight.shape
    # F.pad's pairs run from the last dim backwards: (W, W, H, H, D, D), zeros on both sides.
    x = F.pad(input, (pw, pw, ph, ph, pd, pd))
    # (N, C, D_out, H_out, W_out, kD, kH, kW): unfold keeps only whole windows (floor size).
    windows = x.unfold(2, kd, sd).unfold(3, kh, sh).unfold(4, kw, sw)
    # Cross-correlation: window offset (a, b, e) meets weight[..., a, b, e], no flip.
    out = torch.einsum("ncdhwabe,ocabe->nodhw", windows, weight)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out
