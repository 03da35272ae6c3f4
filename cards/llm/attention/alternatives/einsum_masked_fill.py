# einsum over any leading dims, masked_fill(-inf) for every kind of blocking, F.softmax.
import torch
import torch.nn.functional as F


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    d = query.shape[-1]
    s = torch.einsum("...le,...se->...ls", query, key) * (
        scale if scale is not None else d**-0.5
    )
    if is_causal:
        future = torch.triu(
            torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device), diagonal=1
        )
        s = s.masked_fill(future, float("-inf"))
    if attn_mask is not None:
        s = (
            s.masked_fill(attn_mask.logical_not(), float("-inf"))
            if attn_mask.dtype == torch.bool
            else s + attn_mask
        )
    return torch.einsum("...ls,...sd->...ld", F.softmax(s, dim=-1), value)
