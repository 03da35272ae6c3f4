"""Alternative: an explicit loop over query heads, slicing the projections by hand, with the
mask built from index comparisons and filled with the dtype's most negative finite value."""

import math

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, num_kv_heads, bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias)
        self.k_proj = nn.Linear(embed_dim, num_kv_heads * self.head_dim, bias)
        self.v_proj = nn.Linear(embed_dim, num_kv_heads * self.head_dim, bias)
        self.o_proj = nn.Linear(embed_dim, embed_dim, bias)

    def forward(self, x, is_causal=False):
        T = x.shape[1]
        d = self.head_dim
        q_all, k_all, v_all = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        per_kv = self.num_heads // self.num_kv_heads
        pos = torch.arange(T, device=x.device)
        allowed = pos[None, :] <= pos[:, None]  # (T, T): key j visible from query i
        outs = []
        for h in range(self.num_heads):
            kv = h // per_kv
            q = q_all[..., h * d : (h + 1) * d]  # (B, T, d)
            k = k_all[..., kv * d : (kv + 1) * d]
            v = v_all[..., kv * d : (kv + 1) * d]
            s = q @ k.transpose(1, 2) / math.sqrt(d)  # (B, T, T)
            if is_causal:
                s = s.masked_fill(~allowed, torch.finfo(s.dtype).min)
            s = s - s.amax(dim=-1, keepdim=True)
            w = s.exp()
            w = w / w.sum(dim=-1, keepdim=True)
            outs.append(w @ v)
        return self.o_proj(torch.cat(outs, dim=-1))
