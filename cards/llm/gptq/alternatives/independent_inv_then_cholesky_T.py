# Written independently of this card's verifier, from the contract alone.
# GPTQ (Frantar et al., 2022). The upper Cholesky factor of the damped inverse Hessian is taken
# as the transpose of the lower factor of torch.linalg.inv(H) (symmetrised). Columns are quantised
# one at a time inside blocks of `block_size`; the within-block error feedback is applied column by
# column and the accumulated block error is pushed to the later columns in one matmul (lazy batch
# update). Grid: per row, or per group of `group_size` columns computed from the current (already
# error-updated) weights when the group starts; asymmetric min-max with 0 forced into the range,
# scale = (max - min) / (2^bits - 1), integer zero point. Dead inputs (H_ii == 0) are zeroed.
import torch


def _grid(w, maxq):
    lo = torch.clamp(w.min(dim=1).values, max=0.0)
    hi = torch.clamp(w.max(dim=1).values, min=0.0)
    same = (lo == 0) & (hi == 0)
    lo = torch.where(same, torch.full_like(lo, -1.0), lo)
    hi = torch.where(same, torch.full_like(hi, 1.0), hi)
    scale = (hi - lo) / maxq
    zero = torch.round(-lo / scale)
    return scale, zero


def _fake_quant(col, scale, zero, maxq):
    q = torch.clamp(torch.round(col / scale) + zero, 0, maxq)
    return scale * (q - zero)


def gptq_quantize(
    weight, hessian, bits=4, group_size=-1, damp_percent=0.01, block_size=128
):
    W = weight.detach().clone().to(torch.float32)
    H = hessian.detach().clone().to(torch.float32)
    _rows, cols = W.shape
    maxq = 2**bits - 1

    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H = H + damp_percent * torch.mean(torch.diag(H)) * torch.eye(cols, device=H.device)
    Hinv = torch.linalg.inv(H)
    Hinv = (Hinv + Hinv.T) / 2
    U = torch.linalg.cholesky(Hinv).T  # upper: Hinv = U^T U

    if group_size is None or group_size <= 0:
        scale, zero = _grid(W, maxq)
    Q = torch.zeros_like(W)
    for b0 in range(0, cols, block_size):
        b1 = min(b0 + block_size, cols)
        Wb = W[:, b0:b1].clone()
        Eb = torch.zeros_like(Wb)
        Ub = U[b0:b1, b0:b1]
        for j in range(b1 - b0):
            c = b0 + j
            if group_size is not None and group_size > 0 and c % group_size == 0:
                # the group's columns: those still in this block come from Wb, later ones from W
                g_end = min(c + group_size, cols)
                inside = Wb[:, j : min(g_end, b1) - b0]
                later = W[:, b1:g_end] if g_end > b1 else W[:, :0]
                scale, zero = _grid(torch.cat([inside, later], dim=1), maxq)
            w = Wb[:, j]
            q = _fake_quant(w, scale, zero, maxq)
            Q[:, c] = q
            e = (w - q) / Ub[j, j]
            Wb[:, j:] -= e[:, None] * Ub[j, j:][None, :]
            Eb[:, j] = e
        if b1 < cols:
            W[:, b1:] -= Eb @ U[b0:b1, b1:]
    return Q.to(weight.dtype)
