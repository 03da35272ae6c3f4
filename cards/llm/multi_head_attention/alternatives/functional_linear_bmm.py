# F.linear on the projections' parameters, heads folded into the batch for torch.bmm, a
# hand-written stable softmax and an additive mask, all straight in the input's dtype.
import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias)

    def _heads(self, x, proj):
        B, T, E = x.shape
        d = E // self.num_heads
        y = F.linear(x, proj.weight, proj.bias)
        return (
            y.reshape(B, T, self.num_heads, d)
            .permute(0, 2, 1, 3)
            .reshape(B * self.num_heads, T, d)
        )

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        B, L, E = query.shape
        S, H = key.shape[1], self.num_heads
        q, k, v = (
            self._heads(query, self.q_proj),
            self._heads(key, self.k_proj),
            self._heads(value, self.v_proj),
        )
        scores = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(E // H)  # (B*H, L, S)
        bias = torch.zeros(B, H, L, S, dtype=scores.dtype, device=scores.device)
        if is_causal:
            bias = bias.masked_fill(
                torch.ones(L, S, dtype=torch.bool, device=bias.device).triu(1),
                float("-inf"),
            )
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                bias = bias.masked_fill(~attn_mask, float("-inf"))
            else:
                bias = bias + attn_mask
        scores = scores + bias.reshape(B * H, L, S)
        p = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        p = p / p.sum(dim=-1, keepdim=True)
        out = (
            torch.bmm(p, v)
            .reshape(B, H, L, E // H)
            .permute(0, 2, 1, 3)
            .reshape(B, L, E)
        )
        return F.linear(out, self.out_proj.weight, self.out_proj.bias)
