import torch
import torch.nn.functional as F
from torch import nn


class GroupedQueryAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, num_kv_heads, bias=False):
        super().__init__()
        self.nh, self.nkv = num_heads, num_kv_heads
        self.hd = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, num_kv_heads * self.hd, bias=bias)
        self.v_proj = nn.Linear(embed_dim, num_kv_heads * self.hd, bias=bias)
        self.o_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x, is_causal=False):
        B, T, E = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = q @ k.transpose(-1, -2) / self.hd**0.5
        if is_causal:
            s = s.masked_fill(
                torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), 1),
                float("-inf"),
            )
        p = F.softmax(s, dim=-1)
        return self.o_proj((p @ v).transpose(1, 2).reshape(B, T, E))
