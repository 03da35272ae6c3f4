"""Mutant: causal mask added as a float32 tensor: promotes bf16/fp16 scores and breaks att @ v."""
# expect: promotes the result to torch.float32

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
        kv_dim = (
            num_kv_heads * self.head_dim
        )  # the point of GQA: smaller K/V projections (and cache)
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

        group = nh // nkv
        k = k.repeat_interleave(group, dim=1)  # (B, nh, T, hs)
        v = v.repeat_interleave(group, dim=1)  # (B, nh, T, hs)

        att = (q @ k.transpose(-2, -1)) / math.sqrt(
            hs
        )  # (B, nh, T, T); scale by head_dim, not E
        if is_causal:
            mask = torch.full((T, T), float("-inf"), device=x.device).triu(
                1
            )  # bug: float32
            att = att + mask
        att = att.softmax(dim=-1)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, E)  # (B, T, E): heads back side by side
        return self.o_proj(y)
