import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__()
        assert embed_dim % num_heads == 0
        self.h = num_heads
        self.d = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, query, key, value, attn_mask=None, is_causal=False):
        B, L, E = query.shape
        S = key.shape[1]
        q = self.q_proj(query).reshape(B, L, self.h, self.d).permute(0, 2, 1, 3)
        k = self.k_proj(key).reshape(B, S, self.h, self.d).permute(0, 2, 1, 3)
        v = self.v_proj(value).reshape(B, S, self.h, self.d).permute(0, 2, 1, 3)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)
        if is_causal:
            causal = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
            scores = scores.masked_fill(~causal, float("-inf"))
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            else:
                scores = scores + attn_mask
        w = F.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, L, E)
        return self.out_proj(out)
