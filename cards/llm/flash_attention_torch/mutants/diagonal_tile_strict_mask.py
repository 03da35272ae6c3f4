# expect: the causal mask excludes the diagonal
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    B, H, Nq, D = query.shape
    Nk = key.shape[-2]
    scale = 1.0 / math.sqrt(D)
    tiles = []
    for q0 in range(0, Nq, block_size):
        q = query[:, :, q0 : q0 + block_size].float() * scale
        rows = torch.arange(q0, q0 + q.shape[2], device=query.device)[:, None]
        m = torch.full((B, H, q.shape[2], 1), float("-inf"), device=query.device)
        l = torch.zeros(B, H, q.shape[2], 1, device=query.device)
        acc = torch.zeros(B, H, q.shape[2], value.shape[-1], device=query.device)
        for k0 in range(0, Nk, block_size):
            k = key[:, :, k0 : k0 + block_size].float()
            v = value[:, :, k0 : k0 + block_size].float()
            s = q @ k.transpose(-2, -1)
            if is_causal:
                cols = torch.arange(k0, k0 + k.shape[2], device=query.device)[None, :]
                s = s.masked_fill(cols >= rows, float("-inf"))  # >= hides the diagonal too
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            p = torch.exp(s - m_new)
            alpha = torch.exp(m - m_new)
            l = alpha * l + p.sum(-1, keepdim=True)
            acc = alpha * acc + p @ v
            m = m_new
        tiles.append(acc / l)
    return torch.cat(tiles, dim=2).to(query.dtype)
