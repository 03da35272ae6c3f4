# expect: eps was added to every entry of z
import torch
import torch.nn.functional as F


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    phi_q, phi_k = F.elu(query) + 1, F.elu(key) + 1
    if is_causal:
        S = torch.einsum("bhnd,bhne->bhnde", phi_k, value).cumsum(2)
        z = phi_k.cumsum(2)
        num = torch.einsum("bhnd,bhnde->bhne", phi_q, S)
    else:
        S = torch.einsum("bhnd,bhne->bhde", phi_k, value)
        z = phi_k.sum(2, keepdim=True)
        num = phi_q @ S
    den = (phi_q * (z + eps)).sum(-1, keepdim=True)  # eps on each feature
    return num / den
