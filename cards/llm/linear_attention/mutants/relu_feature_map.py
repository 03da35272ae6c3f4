# expect: the feature map is relu(x)
import torch


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    phi_q, phi_k = torch.relu(query), torch.relu(key)
    if is_causal:
        S = torch.einsum("bhnd,bhne->bhnde", phi_k, value).cumsum(2)
        z = phi_k.cumsum(2)
        num = torch.einsum("bhnd,bhnde->bhne", phi_q, S)
        den = (phi_q * z).sum(-1)
    else:
        S = torch.einsum("bhnd,bhne->bhde", phi_k, value)
        num = phi_q @ S
        den = phi_q @ phi_k.sum(2).unsqueeze(-1)
        den = den.squeeze(-1)
    return num / (den + eps).unsqueeze(-1)
