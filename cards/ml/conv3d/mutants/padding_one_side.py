# expect: the padding went on one side only
import torch
import torch.nn.functional as F


def _triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def conv3d(input, weight, bias=None, stride=1, padding=0):
    sd, sh, sw = _triple(stride)
    pd, ph, pw = _triple(padding)
    _, _, kd, kh, kw = weight.shape
    # bug: F.pad's pairs are (before, after) per dim; this puts all the padding after
    x = F.pad(input, (0, 2 * pw, 0, 2 * ph, 0, 2 * pd))
    windows = x.unfold(2, kd, sd).unfold(3, kh, sh).unfold(4, kw, sw)
    out = torch.einsum("ncdhwabe,ocabe->nodhw", windows, weight)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out
