# expect: read backwards
import torch
import torch.nn.functional as F


def _triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def conv3d(input, weight, bias=None, stride=1, padding=0):
    # bug: F.pad's last-dim-first order leaked into the tuples: read as (w, h, d)
    sw, sh, sd = _triple(stride)
    pw, ph, pd = _triple(padding)
    _, _, kd, kh, kw = weight.shape
    x = F.pad(input, (pw, pw, ph, ph, pd, pd))
    windows = x.unfold(2, kd, sd).unfold(3, kh, sh).unfold(4, kw, sw)
    out = torch.einsum("ncdhwabe,ocabe->nodhw", windows, weight)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out
