"""A loop over the kH*kW offsets: the running torch.maximum of each offset's strided slice of the
-inf-padded input (a buffer filled with -inf, the input copied into its middle)."""

import torch


def max_pool2d(input, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        sh, sw = kh, kw
    else:
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    n, c, h, w = input.shape
    buf = input.new_full((n, c, h + 2 * ph, w + 2 * pw), float("-inf"))
    buf[:, :, ph : ph + h, pw : pw + w] = input
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    out = None
    for a in range(kh):
        for b in range(kw):
            sl = buf[
                :, :, a : a + (ho - 1) * sh + 1 : sh, b : b + (wo - 1) * sw + 1 : sw
            ]
            out = sl if out is None else torch.maximum(out, sl)
    return out
