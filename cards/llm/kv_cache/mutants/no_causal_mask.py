"""Mutant: no causal mask at all (right for one-token decoding, wrong for any prefill)."""
# expect: no causal mask

import math

import torch
from torch import nn


class CachedCausalSelfAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x: torch.Tensor, past_kv=None):
        B, T, E = x.shape
        H, hs = self.num_heads, self.head_dim
        q = self.q_proj(x).view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        k = self.k_proj(x).view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        v = self.v_proj(x).view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        if past_kv is not None:
            past_k, past_v = past_kv  # (B, H, P, hs) each
            k = torch.cat([past_k, k], dim=2)  # (B, H, P + T, hs)
            v = torch.cat([past_v, v], dim=2)  # (B, H, P + T, hs)
        # bug: no causal mask, the cache alone does not make a prefill causal

        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, H, T, S)
        att = att.softmax(dim=-1)
        y = att @ v  # (B, H, T, hs)
        y = y.transpose(1, 2).reshape(B, T, E)  # (B, T, E)
        return self.out_proj(y), (k, v)
