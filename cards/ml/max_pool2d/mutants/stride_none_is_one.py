# expect: stride=None was taken as stride 1
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else 1)  # bug: None means kernel_size
    ph, pw = _pair(padding)
    x = F.pad(input, (pw, pw, ph, ph), value=float("-inf"))
    return x.unfold(2, kh, sh).unfold(3, kw, sw).amax(dim=(-2, -1))
