"""GPTQ (Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative
Pre-trained Transformers"): quantise a linear layer's weight column by column, spreading each
column's rounding error over the columns not yet quantised with the upper Cholesky factor of the
inverse Hessian, in lazy blocks.

Left out: act-order (columns sorted by the Hessian's diagonal), static groups, dead-column
handling (a zero on the Hessian's diagonal), symmetric grids and packing the integers.
"""

import torch


def _grid(w: torch.Tensor, maxq: int):
    """Per-row asymmetric min-max grid that always contains 0: (scale, zero), each (rows, 1)."""
    lo = w.amin(dim=1, keepdim=True).clamp(max=0)
    hi = w.amax(dim=1, keepdim=True).clamp(min=0)
    same = lo == hi  # an all-zero row: any grid will do
    lo, hi = torch.where(same, -1.0, lo), torch.where(same, 1.0, hi)
    scale = (hi - lo) / maxq
    zero = torch.round(-lo / scale)  # 0 lands exactly on the integer `zero`
    return scale, zero


def _quantize(w, scale, zero, maxq):
    return scale * (torch.clamp(torch.round(w / scale) + zero, 0, maxq) - zero)


def gptq_quantize(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    bits: int = 4,
    group_size: int = -1,
    damp_percent: float = 0.01,
    block_size: int = 128,
) -> torch.Tensor:
    dtype = torch.promote_types(weight.dtype, torch.float32)
    W = weight.detach().to(dtype).clone()  # (rows, cols)
    H = hessian.detach().to(dtype).clone()  # (cols, cols)
    cols = W.shape[1]
    maxq = 2**bits - 1
    H += (
        damp_percent
        * torch.diag(H).mean()
        * torch.eye(cols, dtype=dtype, device=W.device)
    )
    # The trick: the upper Cholesky factor of H^-1 holds, row by row, the inverse Hessians of
    # the columns still to quantise (each column's removal is one step of the factorisation).
    Hinv = torch.linalg.cholesky(
        torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True
    )
    if group_size == -1:
        scale, zero = _grid(W, maxq)  # from the original weight, once
    Q = torch.zeros_like(W)
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1 = W[:, i1:i2].clone()  # (rows, b): updated eagerly inside the block
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if group_size != -1 and (i1 + i) % group_size == 0:
                # As the paper's code: the group's grid from W, whose columns in this block
                # have not yet received this block's updates (lazy).
                scale, zero = _grid(W[:, i1 + i : i1 + i + group_size], maxq)
            w = W1[:, i]
            q = _quantize(w[:, None], scale, zero, maxq)[:, 0]
            Q[:, i1 + i] = q
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err[:, None] * Hinv1[i, i:][None, :]  # spread over the block
            Err1[:, i] = err
        # lazy update of every later column at once
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return Q.to(weight.dtype)
