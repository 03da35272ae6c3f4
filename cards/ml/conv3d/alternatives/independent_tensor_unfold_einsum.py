# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
import torch.nn.functional as F


def _triple(v):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * 3
        a, b, c = v
        return int(a), int(b), int(c)
    return (int(v),) * 3


def conv3d(input, weight, bias=None, stride=1, padding=0):
    """Sliding windows with Tensor.unfold on each spatial dim, giving a
    (N, C, Do, Ho, Wo, kD, kH, kW) view, contracted with the kernel by einsum."""
    sd, sh, sw = _triple(stride)
    pd, ph, pw = _triple(padding)
    _N, C, _D, _H, _W = input.shape
    O, Cw, kD, kH, kW = weight.shape
    if C != Cw:
        raise ValueError("input channels do not match weight")
    x = F.pad(input, (pw, pw, ph, ph, pd, pd)) if (pd or ph or pw) else input
    win = x.unfold(2, kD, sd).unfold(3, kH, sh).unfold(4, kW, sw)
    out = torch.einsum("ncdhwxyz,ocxyz->nodhw", win, weight)
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1, 1)
    return out
