# expect: the kernel was flipped
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
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cols = F.unfold(input, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    cols = cols.reshape(n, groups, cg * kh * kw, h_out * w_out)
    # bug: the textbook convolution flips the kernel; deep-learning conv2d does not
    filters = weight.flip(-1, -2).reshape(groups, o // groups, cg * kh * kw)
    out = torch.einsum("gok,ngkl->ngol", filters, cols).reshape(n, o, h_out, w_out)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out
