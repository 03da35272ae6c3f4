# expect: applied to the probabilities after the softmax
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    weights = torch.softmax(query @ key.transpose(-2, -1) * scale, dim=-1)
    # bug: masking the probabilities after softmax leaves rows that no longer sum to 1
    if is_causal:
        allowed = torch.ones(
            query.size(-2), key.size(-2), dtype=torch.bool, device=query.device
        ).tril()
        weights = weights * allowed
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            weights = weights * attn_mask
        else:
            weights = weights * torch.exp(attn_mask)
    return weights @ value
