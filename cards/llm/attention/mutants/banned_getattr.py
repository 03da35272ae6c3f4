# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch

_name = "scaled_dot_product" + "_attention"


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, is_causal=False, scale=None
):
    fn = getattr(
        torch.nn.functional, _name
    )  # dodges the static check; caught at run time
    return fn(query, key, value, attn_mask=attn_mask, is_causal=is_causal, scale=scale)
