"""Multi-head attention (Vaswani et al., 2017, "Attention Is All You Need", section 3.2.2), batch
first, with the projections named as in Hugging Face models (q_proj, k_proj, v_proj, out_proj).
Computes what torch.nn.MultiheadAttention(batch_first=True) computes with the same weights.

Left out: dropout, key_padding_mask, returning the attention weights, add_bias_kv / add_zero_attn,
different key/value embedding sizes (kdim/vdim), KV caching.
"""

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
        # (B, nh, T, hs)
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        B, L, E = query.shape
        S = key.size(1)
        q = self._split_heads(self.q_proj(query))  # (B, nh, L, hs)
        k = self._split_heads(self.k_proj(key))  # (B, nh, S, hs)
        v = self._split_heads(self.v_proj(value))  # (B, nh, S, hs)
        # (B, nh, L, S); head_dim, not E
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if is_causal:
            # top-left aligned
            allowed = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
            scores = scores.masked_fill(~allowed, float("-inf"))
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                # True = may attend
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            else:
                scores = scores + attn_mask
        out = torch.softmax(scores, dim=-1) @ v  # (B, nh, L, hs)
        # (B, L, nh * hs): heads side by side again
        out = out.transpose(1, 2).reshape(B, L, E)
        return self.out_proj(out)
