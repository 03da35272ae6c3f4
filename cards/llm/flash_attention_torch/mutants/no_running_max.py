# expect: the output has inf/NaN
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    # sums of exp(s) per tile, no max subtracted: fine for small scores, overflows for large
    Nq, Nk, D = query.shape[-2], key.shape[-2], query.shape[-1]
    q = query.float() / math.sqrt(D)
    rows = torch.arange(Nq, device=query.device)[:, None]
    l = torch.zeros(*q.shape[:-1], 1, device=query.device)
    acc = torch.zeros(*q.shape[:-1], value.shape[-1], device=query.device)
    for k0 in range(0, Nk, block_size):
        s = q @ key[:, :, k0 : k0 + block_size].float().transpose(-2, -1)
        if is_causal:
            cols = torch.arange(k0, k0 + s.shape[-1], device=query.device)[None, :]
            s = s.masked_fill(cols > rows, float("-inf"))
        p = torch.exp(s)
        l = l + p.sum(-1, keepdim=True)
        acc = acc + p @ value[:, :, k0 : k0 + block_size].float()
    return (acc / l).to(query.dtype)
