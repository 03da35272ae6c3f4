# expect: the stride was ignored
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    kh, kw = _pair(kernel_size)
    ph, pw = _pair(padding)
    x = F.pad(input, (pw, pw, ph, ph), value=float("-inf"))
    n, c, h, w = x.shape
    ho, wo = h // kh, w // kw
    # bug: reshaping into kernel-sized blocks only works when stride == kernel_size
    x = x[:, :, : ho * kh, : wo * kw].reshape(n, c, ho, kh, wo, kw)
    return x.amax(dim=(3, 5))
