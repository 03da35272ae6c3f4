# Written independently of this card's verifier, from the contract alone.
# FlashAttention-1 loop order: the outer (and only) loop walks key/value blocks of `block_size`;
# every query row keeps a running max m, a running sum l and an unnormalised accumulator in float32,
# all rescaled by exp(m_old - m_new) when a block raises the max. Scores are (.., Lq, block) at most.
# Causal is top-left aligned (query i sees keys j <= i); blocks wholly in the future are skipped.
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    Lq, D = query.shape[-2], query.shape[-1]
    Lk = key.shape[-2]
    scale = 1.0 / math.sqrt(D)
    q = query.float() * scale
    m = torch.full((*q.shape[:-1], 1), float("-inf"), device=q.device)
    l = torch.zeros_like(m)
    acc = torch.zeros(*q.shape[:-1], value.shape[-1], device=q.device)
    qi = torch.arange(Lq, device=q.device)[:, None]
    for start in range(0, Lk, block_size):
        if is_causal and start > Lq - 1:
            break  # no query sees these keys
        stop = min(start + block_size, Lk)
        kb = key[..., start:stop, :].float()
        vb = value[..., start:stop, :].float()
        s = q @ kb.transpose(-2, -1)  # (..., Lq, b)
        if is_causal:
            kj = torch.arange(start, stop, device=q.device)[None, :]
            s = s.masked_fill(kj > qi, float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
        safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        p = torch.exp(s - safe)
        corr = torch.exp(m - safe)
        l = l * corr + p.sum(dim=-1, keepdim=True)
        acc = acc * corr + p @ vb
        m = m_new
    return (acc / l).to(query.dtype)
