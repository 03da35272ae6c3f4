"""Mutant (dodge): hands the work to SDPA through an aliased import; must come out `banned`."""
# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`

import torch
from torch import nn
from torch.nn import functional as G


class GroupedQueryAttention(nn.Module):
    def __init__(
        self, embed_dim: int, num_heads: int, num_kv_heads: int, bias: bool = False
    ):
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = embed_dim // num_heads
        kv_dim = num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, kv_dim, bias=bias)
        self.o_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
        B, T, E = x.shape
        q = self.q_proj(x).view(B, T, self.num_heads, -1).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, -1).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, -1).transpose(1, 2)
        attend = G.scaled_dot_product_attention
        y = attend(q, k, v, is_causal=is_causal, enable_gqa=True)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, E))
