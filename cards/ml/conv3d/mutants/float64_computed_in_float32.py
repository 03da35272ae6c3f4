# expect: computed in float32
import torch
import torch.nn.functional as F


def _triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def conv3d(input, weight, bias=None, stride=1, padding=0):
    sD, sH, sW = _triple(stride)
    pD, pH, pW = _triple(padding)
    N, C, D, H, W = input.shape
    O, _, kD, kH, kW = weight.shape
    x = F.pad(input.float(), (pW, pW, pH, pH, pD, pD))
    weight = weight.float()
    Do = (D + 2 * pD - kD) // sD + 1
    Ho = (H + 2 * pH - kH) // sH + 1
    Wo = (W + 2 * pW - kW) // sW + 1
    out = torch.zeros((N, Do, Ho, Wo, O), device=input.device)
    for a in range(kD):
        for b in range(kH):
            for e in range(kW):
                sl = x[:, :, a:a + (Do - 1) * sD + 1:sD, b:b + (Ho - 1) * sH + 1:sH, e:e + (Wo - 1) * sW + 1:sW]
                out = out + sl.permute(0, 2, 3, 4, 1) @ weight[:, :, a, b, e].t()
    out = out.permute(0, 4, 1, 2, 3)
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1, 1)
    return out.to(input.dtype)
