# FlashAttention-1's loop order: keys outside, queries inside, with the statistics m, l and the
# output O for every row kept in buffers updated slice by slice. Accumulates in the input's dtype
# (no float32 upcast), as a kernel on half-precision data without a wide accumulator would.
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    B, H, Nq, D = query.shape
    Nk, Dv = key.shape[2], value.shape[3]
    dt, dev = query.dtype, query.device
    O = torch.zeros(B, H, Nq, Dv, dtype=dt, device=dev)
    m = torch.full((B, H, Nq, 1), float("-inf"), dtype=dt, device=dev)
    l = torch.zeros(B, H, Nq, 1, dtype=dt, device=dev)
    scale = 1.0 / math.sqrt(D)
    for j0 in range(0, Nk, block_size):
        j1 = min(j0 + block_size, Nk)
        Kj, Vj = key[:, :, j0:j1], value[:, :, j0:j1]
        for i0 in range(0, Nq, block_size):
            i1 = min(i0 + block_size, Nq)
            if is_causal and j0 > i1 - 1:
                continue  # the whole tile lies in the future of these queries
            S = (query[:, :, i0:i1] @ Kj.transpose(2, 3)) * scale
            if is_causal:
                future = (
                    torch.arange(j0, j1, device=dev)[None, :]
                    > torch.arange(i0, i1, device=dev)[:, None]
                )
                S = S.masked_fill(future, float("-inf"))
            m_tile = S.amax(dim=-1, keepdim=True)
            P = torch.exp(S - m_tile)
            l_tile = P.sum(dim=-1, keepdim=True)
            m_old, l_old = m[:, :, i0:i1], l[:, :, i0:i1]
            m_new = torch.maximum(m_old, m_tile)
            a, b = torch.exp(m_old - m_new), torch.exp(m_tile - m_new)
            l_new = a * l_old + b * l_tile
            O[:, :, i0:i1] = (l_old * a * O[:, :, i0:i1] + b * (P @ Vj)) / l_new
            m[:, :, i0:i1] = m_new
            l[:, :, i0:i1] = l_new
    return O
