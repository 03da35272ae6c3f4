# expect: scaled by 1/E, not 1/sqrt(E)
import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    scale = (
        1.0 / query.size(-1) if scale is None else scale
    )  # bug: 1/E instead of 1/sqrt(E)
    scores = query @ key.transpose(-2, -1) * scale
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
    return torch.softmax(scores, dim=-1) @ value
