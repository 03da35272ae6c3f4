# expect: get a score of 0 instead of -inf
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = query @ key.transpose(-2, -1) * scale
    if is_causal:
        allowed = torch.ones(
            query.size(-2), key.size(-2), dtype=torch.bool, device=query.device
        ).tril()
        scores = scores.masked_fill(
            ~allowed, 0.0
        )  # bug: a score of 0 still gets exp(0) weight
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, 0.0)
        else:
            scores = scores + attn_mask
    return torch.softmax(scores, dim=-1) @ value
