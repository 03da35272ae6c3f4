"""Conv2d as torch.nn.functional.conv2d, by im2col: unfold the (padded, dilated, strided)
windows into columns, then one batched matmul per group.

Left out: padding modes other than zeros, padding="same"/"valid" strings, unbatched input."""

import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    n, _, h, w = input.shape
    o, cg, kh, kw = weight.shape
    # Floor output size: a last window that does not fit is dropped.
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    # (N, C*kH*kW, L): unfold pads with zeros on both sides; no kernel flip (cross-correlation).
    cols = F.unfold(
        input, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw)
    )
    # Channels are the slowest index of unfold's rows, so the groups are consecutive blocks.
    cols = cols.reshape(n, groups, cg * kh * kw, h_out * w_out)
    filters = weight.reshape(groups, o // groups, cg * kh * kw)
    out = torch.einsum("gok,ngkl->ngol", filters, cols).reshape(n, o, h_out, w_out)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out
