# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch
from torch.nn import functional as G


def sliding_window_attention(query, key, value, window):
    N = query.size(-2)
    i = torch.arange(N, device=query.device)[:, None]
    j = torch.arange(N, device=query.device)[None, :]
    return G.scaled_dot_product_attention(
        query, key, value, attn_mask=(j <= i) & (j > i - window)
    )
