# One head at a time: slice each head's columns, attend with masked_fill(-inf) / an added float
# mask, F.softmax, and concatenate the heads along the feature dim. Computes in the input's dtype.
import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__()
        self.h = num_heads
        self.d = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        L, S = q.shape[1], k.shape[1]
        mask = None
        if attn_mask is not None:
            mask = attn_mask
            while mask.dim() < 4:
                # (.., .., L, S) -> 4-D so that dim 1 is the head
                mask = mask.unsqueeze(0)
        heads = []
        for i in range(self.h):
            cols = slice(i * self.d, (i + 1) * self.d)
            # (B, L, S)
            s = q[:, :, cols] @ k[:, :, cols].transpose(1, 2) / math.sqrt(self.d)
            if is_causal:
                s = s.masked_fill(
                    torch.ones(L, S, device=s.device).tril() == 0, float("-inf")
                )
            if mask is not None:
                m = mask[:, i if mask.shape[1] > 1 else 0]  # (B or 1, L or 1, S)
                s = s.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else s + m
            heads.append(F.softmax(s, dim=-1) @ v[:, :, cols])  # (B, L, d)
        return self.out_proj(torch.cat(heads, dim=-1))
