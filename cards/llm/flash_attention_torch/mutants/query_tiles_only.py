# expect: a tile holding every key
import math

import torch


def flash_attention(query, key, value, is_causal=False, block_size=64):
    # tiles the queries only: each tile still scores every key with a plain softmax
    Nq, Nk, D = query.shape[-2], key.shape[-2], query.shape[-1]
    kt = key.float().transpose(-2, -1)
    cols = torch.arange(Nk, device=query.device)
    out = []
    for q0 in range(0, Nq, block_size):
        q = query[:, :, q0 : q0 + block_size].float() / math.sqrt(D)
        s = q @ kt
        if is_causal:
            rows = torch.arange(q0, q0 + q.shape[2], device=query.device)
            s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
        out.append(torch.softmax(s, dim=-1) @ value.float())
    return torch.cat(out, dim=2).to(query.dtype)
