# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch

_sdpa = getattr(torch.nn.functional, "scaled_dot_product" + "_attention")


def flash_attention(query, key, value, is_causal=False, block_size=64):
    # query tiles handed to the built-in kernel: nothing of the algorithm is written here
    out = [
        _sdpa(query[:, :, q0 : q0 + block_size], key, value, is_causal=False)
        for q0 in range(0, query.shape[2], block_size)
    ]
    return torch.cat(out, dim=2)
