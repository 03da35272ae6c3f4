# expect: rounded up (ceil)
import math

import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    # bug: ceil keeps a last window that runs past the padded input
    h_out = math.ceil((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1
    w_out = math.ceil((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1
    need_h = (h_out - 1) * sh + dh * (kh - 1) + 1
    need_w = (w_out - 1) * sw + dw * (kw - 1) + 1
    x = F.pad(input, (pw, need_w - w - pw, ph, need_h - h - ph))
    cols = F.unfold(x, (kh, kw), dilation=(dh, dw), stride=(sh, sw))
    cols = cols.reshape(n, groups, cg * kh * kw, h_out * w_out)
    filters = weight.reshape(groups, o // groups, cg * kh * kw)
    out = torch.einsum("gok,ngkl->ngol", filters, cols).reshape(n, o, h_out, w_out)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out
