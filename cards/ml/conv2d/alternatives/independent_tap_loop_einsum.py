# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
import torch.nn.functional as F


def _pair(v):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        a, b = v
        return int(a), int(b)
    return int(v), int(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation as a sum over the kH*kW kernel taps: for each tap take
    the strided, dilated slice of the zero-padded input that it touches, and
    contract its channels with that tap's weights per group (einsum)."""
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    N, C, H, W = input.shape
    O, Cg, kH, kW = weight.shape
    G = int(groups)
    if C != Cg * G or O % G != 0:
        raise ValueError("channel counts do not match groups")
    Og = O // G
    x = F.pad(input, (pw, pw, ph, ph)) if (ph or pw) else input
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho = (Hp - dh * (kH - 1) - 1) // sh + 1
    Wo = (Wp - dw * (kW - 1) - 1) // sw + 1
    if Ho <= 0 or Wo <= 0:
        raise RuntimeError("kernel size can't be greater than actual input size")
    xg = x.reshape(N, G, Cg, Hp, Wp)
    wg = weight.reshape(G, Og, Cg, kH, kW)
    out = None
    for i in range(kH):
        r0 = i * dh
        for j in range(kW):
            c0 = j * dw
            patch = xg[
                :,
                :,
                :,
                r0 : r0 + sh * (Ho - 1) + 1 : sh,
                c0 : c0 + sw * (Wo - 1) + 1 : sw,
            ]
            term = torch.einsum("ngchw,goc->ngohw", patch, wg[:, :, :, i, j])
            out = term if out is None else out + term
    out = out.reshape(N, O, Ho, Wo)
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1)
    return out
