# expect: dtype expected torch.float16, got torch.float32
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    q, k, v = query.float(), key.float(), value.float()
    scores = q @ k.transpose(-2, -1) * scale
    if is_causal:
        allowed = torch.ones(
            q.size(-2), k.size(-2), dtype=torch.bool, device=q.device
        ).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask.float()
    return (
        torch.softmax(scores, dim=-1) @ v
    )  # bug: upcast for accuracy, never cast back
