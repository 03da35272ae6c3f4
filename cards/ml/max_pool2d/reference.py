"""MaxPool2d as torch.nn.functional.max_pool2d: pad with -inf, view every window with
Tensor.unfold, and take the max over each window (autograd sends the gradient to the argmax).

Left out: dilation, ceil_mode, return_indices, unbatched input."""

import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    kh, kw = _pair(kernel_size)
    # stride None (or an empty tuple, as torch allows) means non-overlapping windows.
    sh, sw = _pair(stride) if stride else (kh, kw)
    ph, pw = _pair(padding)
    # -inf, not 0: the padding must never win a window of negative values.
    x = F.pad(input, (pw, pw, ph, ph), value=float("-inf"))
    # (N, C, H_out, W_out, kH, kW); unfold keeps only whole windows, the floor output size.
    windows = x.unfold(2, kh, sh).unfold(3, kw, sw)
    return windows.amax(dim=(-2, -1))
