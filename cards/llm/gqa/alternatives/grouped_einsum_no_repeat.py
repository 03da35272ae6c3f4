"""Alternative: no repeat at all. Queries are viewed as (B, num_kv_heads, group, T, hs) and
broadcast against one K/V head per group with einsum; additive -inf mask in the input's dtype."""

import math

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, num_kv_heads, bias=False):
        super().__init__()
        self.nh, self.nkv = num_heads, num_kv_heads
        self.hs = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, num_kv_heads * self.hs, bias=bias)
        self.v_proj = nn.Linear(embed_dim, num_kv_heads * self.hs, bias=bias)
        self.o_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x, is_causal=False):
        B, T, E = x.shape
        g = self.nh // self.nkv
        q = self.q_proj(x).view(B, T, self.nkv, g, self.hs)  # query head h = kv * g + j
        k = self.k_proj(x).view(B, T, self.nkv, self.hs)
        v = self.v_proj(x).view(B, T, self.nkv, self.hs)
        s = torch.einsum("bqngd,bknd->bngqk", q, k) * (1.0 / math.sqrt(self.hs))
        if is_causal:
            mask = torch.zeros(T, T, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(
                torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1),
                float("-inf"),
            )
            s = s + mask
        p = torch.softmax(s, dim=-1)
        y = torch.einsum("bngqk,bknd->bqngd", p, v).reshape(B, T, E)
        return self.o_proj(y)
