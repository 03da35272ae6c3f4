# The most literal version: scale the query first, a hand-written max-subtracted softmax, all in
# the input's dtype (float16/bfloat16 included, no upcast).
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    if scale is None:
        scale = 1 / math.sqrt(query.shape[-1])
    s = (query * scale) @ key.transpose(-2, -1)
    if is_causal:
        future = torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).triu(1)
        s = s.masked_fill(future, float("-inf"))
    if attn_mask is not None:
        s = (
            s.masked_fill(~attn_mask, float("-inf"))
            if attn_mask.dtype == torch.bool
            else s + attn_mask
        )
    p = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    p = p / p.sum(dim=-1, keepdim=True)
    return p @ value
