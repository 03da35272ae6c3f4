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


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Running torch.maximum over the kH*kW window offsets, each offset being a
    strided slice of the -inf padded input. Works on (N, C, H, W) or (C, H, W)."""
    kH, kW = _pair(kernel_size)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        sH, sW = kH, kW
    else:
        sH, sW = _pair(stride)
    pH, pW = _pair(padding)
    if pH > kH // 2 or pW > kW // 2:
        raise RuntimeError("pad should be at most half of effective kernel size")
    H, W = input.shape[-2], input.shape[-1]
    x = F.pad(input, (pW, pW, pH, pH), value=float("-inf")) if (pH or pW) else input
    Ho = (H + 2 * pH - kH) // sH + 1
    Wo = (W + 2 * pW - kW) // sW + 1
    if Ho <= 0 or Wo <= 0:
        raise RuntimeError("output size is too small")
    out = None
    for i in range(kH):
        for j in range(kW):
            tap = x[..., i : i + sH * (Ho - 1) + 1 : sH, j : j + sW * (Wo - 1) + 1 : sW]
            out = tap if out is None else torch.maximum(out, tap)
    if out is input:
        out = out.clone()
    return out
