# Upcast to float32, a hand-written stable softmax, torch.where for masks, cast back at the end.
import math

import torch


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    q, k, v = query.float(), key.float(), value.float()
    if scale is None:
        scale = 1 / math.sqrt(q.shape[-1])
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    neg_inf = torch.tensor(float("-inf"), device=q.device)
    if is_causal:
        i = torch.arange(q.shape[-2], device=q.device)[:, None]
        j = torch.arange(k.shape[-2], device=q.device)[None, :]
        scores = torch.where(j <= i, scores, neg_inf)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = torch.where(attn_mask, scores, neg_inf)
        else:
            scores = scores + attn_mask.float()
    scores = scores - scores.amax(dim=-1, keepdim=True)
    p = scores.exp()
    p = p / p.sum(dim=-1, keepdim=True)
    return torch.matmul(p, v).to(query.dtype)
