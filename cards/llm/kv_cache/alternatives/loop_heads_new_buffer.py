"""Alternative: a fresh buffer filled by slice assignment instead of torch.cat, a loop over heads,
a hand-written softmax and the mask filled with the dtype's most negative finite value."""

import math

import torch
from torch import nn


class CachedCausalSelfAttention(nn.Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, False)
        self.k_proj = nn.Linear(embed_dim, embed_dim, False)
        self.v_proj = nn.Linear(embed_dim, embed_dim, False)
        self.out_proj = nn.Linear(embed_dim, embed_dim, False)

    def forward(self, x, past_kv=None):
        B, T, E = x.shape
        H = self.num_heads
        d = E // H
        q = self.q_proj(x).view(B, T, H, d).transpose(1, 2)
        k_new = self.k_proj(x).view(B, T, H, d).transpose(1, 2)
        v_new = self.v_proj(x).view(B, T, H, d).transpose(1, 2)
        P = 0 if past_kv is None else past_kv[0].shape[2]
        k = x.new_empty(B, H, P + T, d)
        v = x.new_empty(B, H, P + T, d)
        if P:
            k[:, :, :P] = past_kv[0]
            v[:, :, :P] = past_kv[1]
        k[:, :, P:] = k_new
        v[:, :, P:] = v_new
        blocked = torch.triu(
            torch.ones(T, P + T, dtype=torch.bool, device=x.device), diagonal=P + 1
        )
        heads = []
        for h in range(H):
            s = q[:, h] @ k[:, h].transpose(-1, -2) / math.sqrt(d)  # (B, T, P + T)
            s = s.masked_fill(blocked, torch.finfo(s.dtype).min)
            e = (s - s.max(dim=-1, keepdim=True).values).exp()
            heads.append((e / e.sum(dim=-1, keepdim=True)) @ v[:, h])  # (B, T, d)
        return self.out_proj(torch.cat(heads, dim=-1)), (k, v)
