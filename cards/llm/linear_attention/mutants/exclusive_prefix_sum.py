# expect: the prefix sums skip key i
import torch
import torch.nn.functional as F


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    phi_q, phi_k = F.elu(query) + 1, F.elu(key) + 1
    kv = torch.einsum("bhnd,bhne->bhnde", phi_k, value)
    if is_causal:
        # the state before adding position i: the RNN update done one step too late
        S = kv.cumsum(2) - kv
        z = phi_k.cumsum(2) - phi_k
    else:
        S = kv.sum(2, keepdim=True)
        z = phi_k.sum(2, keepdim=True)
    num = torch.einsum("bhnd,bhnde->bhne", phi_q, S.expand_as(kv))
    den = (phi_q * z).sum(-1)
    return num / (den + eps).unsqueeze(-1)
