"""Scaled dot-product attention (Vaswani et al., 2017, "Attention Is All You Need", eq. 1):
softmax(Q K^T * scale + mask) V, with the mask conventions of
torch.nn.functional.scaled_dot_product_attention.

Left out: dropout, grouped-query broadcasting (enable_gqa), fused/flash kernels.
"""

import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    # query (..., L, E), key (..., S, E), value (..., S, Ev)
    L, S = query.size(-2), key.size(-2)
    # E of the query, not of value
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale  # (..., L, S)
    if is_causal:
        # Top-left aligned: query i sees keys 0..i, also when L != S.
        allowed = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))  # True = may attend
        else:
            scores = scores + attn_mask  # a float mask is a bias on the scores
    # The subtlety: subtract the row max before exp (softmax does), or large scores overflow to inf/NaN.
    # (..., L, S), each row sums to 1 over the keys
    weights = torch.softmax(scores, dim=-1)
    return weights @ value  # (..., L, Ev)
