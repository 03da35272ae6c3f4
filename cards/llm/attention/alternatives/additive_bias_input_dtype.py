# Everything turned into one additive bias, computed straight in the input's dtype (no upcast).
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    L, S, E = query.size(-2), key.size(-2), query.size(-1)
    bias = torch.zeros(L, S, dtype=query.dtype, device=query.device)
    if is_causal:
        bias = bias + torch.full(
            (L, S), float("-inf"), dtype=query.dtype, device=query.device
        ).triu(1)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            bias = bias + attn_mask
    scale_factor = 1 / math.sqrt(E) if scale is None else scale
    attn = query @ key.transpose(-2, -1) * scale_factor + bias
    return attn.softmax(dim=-1) @ value
