# Flatten the leading dims into one batch for torch.bmm; masked positions get the dtype's most
# negative finite value instead of -inf; 2-D inputs handled by the reshape too.
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    *batch, L, E = query.shape
    S, Ev = key.shape[-2], value.shape[-1]
    q = query.reshape(-1, L, E)
    k = key.reshape(-1, S, E)
    v = value.reshape(-1, S, Ev)
    scale = scale if scale is not None else 1.0 / math.sqrt(E)
    scores = torch.bmm(q, k.transpose(1, 2)) * scale  # (N, L, S)
    lowest = torch.finfo(scores.dtype).min
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~keep, lowest)
    if attn_mask is not None:
        mask = attn_mask.expand(*batch, L, S).reshape(-1, L, S)
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, lowest)
        else:
            scores = scores + mask
    weights = torch.softmax(scores, dim=-1)
    return torch.bmm(weights, v).reshape(*batch, L, Ev)
