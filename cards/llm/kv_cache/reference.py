"""Causal self-attention with a key/value cache, as used for autoregressive decoding in every
decoder-only transformer (GPT-2, Llama, ...; e.g. Hugging Face's `past_key_values`).

Keys and values of tokens already seen are computed once and passed back in, so a decoding step
projects only the new tokens. The call works for a prefill (no cache), one-token decoding steps,
and several new tokens on top of a cache (chunked prefill, speculative decoding).

Left out: positional encodings (RoPE would rotate q and k at their absolute positions), a
preallocated static cache, padding masks, dropout, grouped K/V heads.
"""

import math

import torch
from torch import nn


class CachedCausalSelfAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x: torch.Tensor, past_kv=None):
        B, T, E = x.shape
        H, hs = self.num_heads, self.head_dim
        q = self.q_proj(x).view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        k = self.k_proj(x).view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        v = self.v_proj(x).view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        if past_kv is not None:
            past_k, past_v = past_kv  # (B, H, P, hs) each
            # torch.cat makes new tensors: the caller's cache is left as it was.
            k = torch.cat([past_k, k], dim=2)  # (B, H, P + T, hs)
            v = torch.cat([past_v, v], dim=2)  # (B, H, P + T, hs)
        S = k.shape[2]
        P = S - T  # number of cached positions

        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, H, T, S)
        # The subtlety: new token i sits at absolute position P + i, so it may see keys
        # j <= P + i. The mask is (T, S), not (T, T), and its diagonal is offset by P;
        # a plain tril(T, S) would hide the cache from every new token but the last ones.
        # j > P + i
        future = torch.ones(T, S, dtype=torch.bool, device=x.device).triu(P + 1)
        att = att.masked_fill(future, float("-inf"))
        att = att.softmax(dim=-1)
        y = att @ v  # (B, H, T, hs)
        y = y.transpose(1, 2).reshape(B, T, E)  # (B, T, E)
        return self.out_proj(y), (k, v)
