# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch
import torch.nn.functional as F
from torch.nn import functional as G


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    # softmax(log(phi(q) · phi(k))) is phi(q) · phi(k) normalised: SDPA does the rest
    phi_q, phi_k = F.elu(query) + 1, F.elu(key) + 1
    log_kernel = torch.log(phi_q @ phi_k.transpose(-2, -1))
    return G.scaled_dot_product_attention(
        query * 0, key * 0, value, attn_mask=log_kernel, is_causal=is_causal
    )
