# expect: uses banned `torch.nn.MultiheadAttention`
import torch
from torch import nn as N


class MultiHeadAttention(N.Module):
    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__()
        self.q_proj = N.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = N.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = N.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = N.Linear(embed_dim, embed_dim, bias=bias)
        self.inner = N.MultiheadAttention(
            embed_dim, num_heads, bias=bias, batch_first=True
        )

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        with torch.no_grad():
            self.inner.in_proj_weight.copy_(
                torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
            )
        return self.inner(query, key, value, need_weights=False)[0]
