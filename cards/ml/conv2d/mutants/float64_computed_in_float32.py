# expect: computed in float32
import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    sH, sW = _pair(stride)
    pH, pW = _pair(padding)
    dH, dW = _pair(dilation)
    N, C, H, W = input.shape
    O, Cg, kH, kW = weight.shape
    Ho = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1
    Wo = (W + 2 * pW - dW * (kW - 1) - 1) // sW + 1
    x = F.pad(input.float(), (pW, pW, pH, pH))
    weight = weight.float()
    Og = O // groups
    outs = []
    for g in range(groups):
        xg = x[:, g * Cg:(g + 1) * Cg]
        wg = weight[g * Og:(g + 1) * Og]
        acc = None
        for a in range(kH):
            for b in range(kW):
                patch = xg[:, :, a * dH: a * dH + (Ho - 1) * sH + 1: sH,
                           b * dW: b * dW + (Wo - 1) * sW + 1: sW]  # N, Cg, Ho, Wo
                term = torch.einsum("nchw,oc->nohw", patch, wg[:, :, a, b])
                acc = term if acc is None else acc + term
        outs.append(acc)
    out = torch.cat(outs, 1)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out.to(input.dtype)
