# expect: works on 4-D (B, H, L, E) inputs but raised
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    # bug: assumes 4-D (B, H, L, E) inputs
    scores = torch.einsum("bhle,bhse->bhls", query, key) * scale
    if is_causal:
        allowed = torch.ones(
            query.size(-2), key.size(-2), dtype=torch.bool, device=query.device
        ).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return torch.einsum("bhls,bhsd->bhld", torch.softmax(scores, dim=-1), value)
