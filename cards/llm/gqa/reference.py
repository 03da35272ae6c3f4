"""Grouped-query attention (Ainslie et al., 2023, "GQA: Training Generalized Multi-Query
Transformer Models from Multi-Head Checkpoints"), as in Llama 2/3 and Mistral.

num_heads query heads share num_kv_heads key/value heads: query head h reads KV head
h // (num_heads // num_kv_heads), the layout of Hugging Face Llama's `repeat_kv`.
num_kv_heads == num_heads is multi-head attention; num_kv_heads == 1 is multi-query attention.

Left out: rotary position embeddings, a KV cache, attention masks other than causal, dropout.
"""

import math

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    def __init__(
        self, embed_dim: int, num_heads: int, num_kv_heads: int, bias: bool = False
    ):
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        assert num_heads % num_kv_heads == 0, (
            "num_heads must be divisible by num_kv_heads"
        )
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = embed_dim // num_heads
        # the point of GQA: smaller K/V projections (and cache)
        kv_dim = num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.o_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
        B, T, E = x.shape
        nh, nkv, hs = self.num_heads, self.num_kv_heads, self.head_dim
        q = self.q_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, nkv, hs).transpose(1, 2)  # (B, nkv, T, hs)
        v = self.v_proj(x).view(B, T, nkv, hs).transpose(1, 2)  # (B, nkv, T, hs)

        # The subtlety: each KV head serves a *contiguous* group of query heads, so repeat each
        # KV head in place (repeat_interleave: 0,0,0,1,1,1), not tile the heads (repeat: 0,1,0,1).
        group = nh // nkv
        k = k.repeat_interleave(group, dim=1)  # (B, nh, T, hs)
        v = v.repeat_interleave(group, dim=1)  # (B, nh, T, hs)

        # (B, nh, T, T); scale by head_dim, not E
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        if is_causal:
            # j > i
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            att = att.masked_fill(future, float("-inf"))
        att = att.softmax(dim=-1)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, E)  # (B, T, E): heads back side by side
        return self.o_proj(y)
