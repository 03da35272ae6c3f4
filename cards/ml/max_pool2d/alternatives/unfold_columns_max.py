"""im2col with F.unfold on the -inf-padded input, then a max over each column (values only)."""

import torch.nn.functional as F


def max_pool2d(input, kernel_size, stride=None, padding=0):
    k = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    s = (
        k
        if stride is None
        else ((stride,) * 2 if isinstance(stride, int) else tuple(stride))
    )
    p = (padding,) * 2 if isinstance(padding, int) else tuple(padding)
    n, c, h, w = input.shape
    x = F.pad(input, (p[1], p[1], p[0], p[0]), value=-float("inf"))
    cols = F.unfold(x, k, stride=s)  # (N, C*kH*kW, L)
    ho = (h + 2 * p[0] - k[0]) // s[0] + 1
    wo = (w + 2 * p[1] - k[1]) // s[1] + 1
    return cols.view(n, c, k[0] * k[1], ho * wo).max(dim=2).values.view(n, c, ho, wo)
