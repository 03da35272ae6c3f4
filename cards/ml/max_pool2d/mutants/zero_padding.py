# expect: padded with zeros
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride) if stride else (kh, kw)
    ph, pw = _pair(padding)
    x = F.pad(input, (pw, pw, ph, ph))  # bug: zeros beat every negative value
    return x.unfold(2, kh, sh).unfold(3, kw, sw).amax(dim=(-2, -1))
