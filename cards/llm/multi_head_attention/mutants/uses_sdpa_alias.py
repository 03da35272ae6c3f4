# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch
import torch.nn.functional as fn
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
        q = self._split_heads(self.q_proj(query))  # (B, nh, L, hs)
        k = self._split_heads(self.k_proj(key))  # (B, nh, S, hs)
        v = self._split_heads(self.v_proj(value))  # (B, nh, S, hs)
        out = fn.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=is_causal
        )  # bug: banned
        out = out.transpose(1, 2).reshape(
            B, L, E
        )  # (B, L, nh * hs): heads side by side again
        return self.out_proj(out)
