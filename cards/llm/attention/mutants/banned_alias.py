# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
from torch.nn import functional as G


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    return G.scaled_dot_product_attention(
        query, key, value, attn_mask=attn_mask, is_causal=is_causal, scale=scale
    )
