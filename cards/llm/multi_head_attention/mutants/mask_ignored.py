# expect: attn_mask has no effect
import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        # The subtlety: view as (B, T, nh, hs) THEN transpose; a direct view as (B, nh, T, hs) mixes tokens.
        return x.view(B, T, self.num_heads, self.head_dim).transpose(
            1, 2
        )  # (B, nh, T, hs)

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        B, L, E = query.shape
        S = key.size(1)
        q = self._split_heads(self.q_proj(query))  # (B, nh, L, hs)
        k = self._split_heads(self.k_proj(key))  # (B, nh, S, hs)
        v = self._split_heads(self.v_proj(value))  # (B, nh, S, hs)
        scores = (
            q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        )  # (B, nh, L, S); head_dim, not E
        if is_causal:
            allowed = torch.ones(
                L, S, dtype=torch.bool, device=query.device
            ).tril()  # top-left aligned
            scores = scores.masked_fill(~allowed, float("-inf"))
        # bug: attn_mask is accepted but never applied
        out = torch.softmax(scores, dim=-1) @ v  # (B, nh, L, hs)
        out = out.transpose(1, 2).reshape(
            B, L, E
        )  # (B, L, nh * hs): heads side by side again
        return self.out_proj(out)
