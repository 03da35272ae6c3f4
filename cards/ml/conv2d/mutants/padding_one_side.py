# expect: the padding went on one side only
import torch


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    padded = input.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
    padded[:, :, :h, :w] = input  # bug: should be [ph:ph + h, pw:pw + w]
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = input.new_zeros(n, o, h_out, w_out)
    for g in range(groups):
        xs = padded[:, g * cg : (g + 1) * cg]
        for a in range(kh):
            for b in range(kw):
                win = xs[
                    :,
                    :,
                    a * dh : a * dh + (h_out - 1) * sh + 1 : sh,
                    b * dw : b * dw + (w_out - 1) * sw + 1 : sw,
                ]
                wk = weight[g * og : (g + 1) * og, :, a, b]
                out[:, g * og : (g + 1) * og] += torch.einsum("nchw,oc->nohw", win, wk)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out
