"""A loop over the kernel offsets: pad by hand, take each (a, b) offset's strided slice of the
padded input, and accumulate its contribution with a per-group einsum."""

import torch


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    def two(v):
        return (v, v) if isinstance(v, int) else (v[0], v[1])

    sh, sw = two(stride)
    ph, pw = two(padding)
    dh, dw = two(dilation)
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    og = o // groups
    padded = input.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
    padded[:, :, ph : ph + h, pw : pw + w] = input
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xg = padded.reshape(n, groups, cg, h + 2 * ph, w + 2 * pw)
    wg = weight.reshape(groups, og, cg, kh, kw)
    out = 0
    for a in range(kh):
        for b in range(kw):
            win = xg[
                ...,
                a * dh : a * dh + (h_out - 1) * sh + 1 : sh,
                b * dw : b * dw + (w_out - 1) * sw + 1 : sw,
            ]
            out = out + torch.einsum("ngchw,goc->ngohw", win, wg[..., a, b])
    out = out.reshape(n, o, h_out, w_out)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out
