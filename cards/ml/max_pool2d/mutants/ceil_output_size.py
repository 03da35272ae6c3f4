# expect: rounded up (ceil)
import math

import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride) if stride else (kh, kw)
    ph, pw = _pair(padding)
    h, w = input.shape[-2:]
    # bug: ceil keeps a partial last window (torch's ceil_mode=True, not the default)
    h_out = math.ceil((h + 2 * ph - kh) / sh) + 1
    w_out = math.ceil((w + 2 * pw - kw) / sw) + 1
    extra_h = (h_out - 1) * sh + kh - (h + 2 * ph)
    extra_w = (w_out - 1) * sw + kw - (w + 2 * pw)
    x = F.pad(input, (pw, pw + extra_w, ph, ph + extra_h), value=float("-inf"))
    return x.unfold(2, kh, sh).unfold(3, kw, sw).amax(dim=(-2, -1))
