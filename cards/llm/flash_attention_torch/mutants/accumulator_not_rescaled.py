# expect: the accumulator is not rescaled
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    B, H, Nq, D = query.shape
    Nk = key.shape[-2]
    scale = 1.0 / math.sqrt(D)
    q = query.float() * scale
    rows = torch.arange(Nq, device=query.device)[:, None]
    m = torch.full((B, H, Nq, 1), float("-inf"), device=query.device)
    l = torch.zeros(B, H, Nq, 1, device=query.device)
    acc = torch.zeros(B, H, Nq, value.shape[-1], device=query.device)
    for k0 in range(0, Nk, block_size):
        k = key[:, :, k0 : k0 + block_size].float()
        v = value[:, :, k0 : k0 + block_size].float()
        s = q @ k.transpose(-2, -1)
        if is_causal:
            cols = torch.arange(k0, k0 + k.shape[2], device=query.device)[None, :]
            s = s.masked_fill(cols > rows, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.exp(s - m_new)
        alpha = torch.exp(m - m_new)
        l = alpha * l + p.sum(-1, keepdim=True)
        acc = acc + p @ v  # forgot alpha here
        m = m_new
    return (acc / l).to(query.dtype)
