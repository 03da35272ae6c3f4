"""Alternative: no blocks at all (block_size accepted and ignored: the lazy update only reorders
the arithmetic), float64 throughout, H^-1 from torch.linalg.inv and a column loop that updates
every later column right away; group grids from the weights as updated so far."""

import torch


def _params(w, maxq):
    lo = torch.minimum(w.min(dim=1).values, torch.zeros_like(w[:, 0]))
    hi = torch.maximum(w.max(dim=1).values, torch.zeros_like(w[:, 0]))
    flat = hi == lo
    hi = torch.where(flat, torch.ones_like(hi), hi)
    lo = torch.where(flat, -torch.ones_like(lo), lo)
    scale = (hi - lo) / maxq
    return scale, torch.round(-lo / scale)


def gptq_quantize(
    weight, hessian, bits=4, group_size=-1, damp_percent=0.01, block_size=128
):
    W = weight.to(torch.float64)  # a copy unless already float64
    W = W.clone()
    H = hessian.to(torch.float64).clone()
    n = H.shape[0]
    idx = torch.arange(n, device=H.device)
    H[idx, idx] += damp_percent * H.diagonal().mean()
    U = torch.linalg.cholesky(torch.linalg.inv(H), upper=True)
    maxq = 2**bits - 1
    scale, zero = _params(W, maxq)
    out = torch.empty_like(W)
    for i in range(n):
        if group_size > 0 and i % group_size == 0:
            scale, zero = _params(W[:, i : i + group_size], maxq)
        w = W[:, i]
        q = (torch.clamp(torch.round(w / scale) + zero, 0, maxq) - zero) * scale
        out[:, i] = q
        e = (w - q) / U[i, i]
        W[:, i + 1 :] -= torch.outer(e, U[i, i + 1 :])
    return out.to(weight.dtype)
