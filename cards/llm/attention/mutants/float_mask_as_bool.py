# expect: used as a 0/1 (bool) keep-mask
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
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        # bug: every mask treated as 0/1, so a float mask's values (a bias) are lost
        scores = scores.masked_fill(attn_mask == 0, float("-inf"))
    return torch.softmax(scores, dim=-1) @ value
