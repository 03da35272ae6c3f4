# expect: never forms an N×N matrix
import torch
import torch.nn.functional as F


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    phi_q, phi_k = F.elu(query) + 1, F.elu(key) + 1
    if not is_causal:
        S = phi_k.transpose(-2, -1) @ value
        den = phi_q @ phi_k.sum(-2, keepdim=True).transpose(-2, -1)
        return (phi_q @ S) / (den + eps)
    # the quadratic form with a causal mask: right values, O(N^2) memory
    A = (phi_q @ phi_k.transpose(-2, -1)).tril()
    return (A @ value) / (A.sum(-1, keepdim=True) + eps)
