"""FlashAttention's forward pass (Dao et al., 2022, "FlashAttention: Fast and Memory-Efficient
Exact Attention with IO-Awareness", algorithm 1; loop order of FlashAttention-2, Dao, 2023):
exact softmax attention over tiles, with the online softmax of Milakov & Gimelshein (2018).

Left out: the fused kernel itself (this is the algorithm in PyTorch ops), dropout, the
logsumexp saved for the backward pass, and the backward pass.
"""

import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    B, H, Nq, D = query.shape
    Nk, Dv = key.shape[-2], value.shape[-1]
    scale = 1.0 / math.sqrt(D)
    tiles = []
    # outer loop over query tiles (FlashAttention-2)
    for q0 in range(0, Nq, block_size):
        q = query[:, :, q0 : q0 + block_size].float() * scale
        rows = torch.arange(q0, q0 + q.shape[2], device=query.device)[:, None]
        m = torch.full((B, H, q.shape[2], 1), float("-inf"), device=query.device)
        l = torch.zeros(B, H, q.shape[2], 1, device=query.device)
        acc = torch.zeros(B, H, q.shape[2], Dv, device=query.device)
        # Causal, top-left: the tile's last query is q0 + len - 1, so later keys are never seen.
        k_end = min(Nk, q0 + q.shape[2]) if is_causal else Nk
        for k0 in range(0, k_end, block_size):
            k = key[:, :, k0 : k0 + block_size].float()
            v = value[:, :, k0 : k0 + block_size].float()
            s = q @ k.transpose(-2, -1)  # (B, H, bq, bk): one tile of scores
            if is_causal:
                cols = torch.arange(k0, k0 + k.shape[2], device=query.device)[None, :]
                s = s.masked_fill(cols > rows, float("-inf"))
            # Key 0 is in the first tile and visible to every query, so m is finite from the
            # first tile on and exp(m - m_new) never meets -inf - (-inf).
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            p = torch.exp(s - m_new)
            alpha = torch.exp(m - m_new)  # rescales what was summed under the old max
            l = alpha * l + p.sum(dim=-1, keepdim=True)
            acc = alpha * acc + p @ v
            m = m_new
        tiles.append(acc / l)
    return torch.cat(tiles, dim=2).to(query.dtype)
