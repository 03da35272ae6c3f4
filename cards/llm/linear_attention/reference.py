"""Linear attention (Katharopoulos et al., 2020, "Transformers are RNNs: Fast Autoregressive
Transformers with Linear Attention", eq. 5-6 and 10-12): softmax(q kᵀ) replaced by the kernel
phi(q) phi(k)ᵀ with phi = elu + 1, regrouped as phi(q) (phi(k)ᵀ v) so the cost is O(N).

Left out: the custom CUDA kernel and memory-efficient backward of the paper (the causal form
here keeps all N prefix states, O(N * D * Dv) memory).
"""

import torch
import torch.nn.functional as F


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    phi_q = F.elu(query) + 1  # (B, H, N, D), positive
    phi_k = F.elu(key) + 1
    if is_causal:
        # S_i = sum_{j<=i} phi(k_j)ᵀ v_j: the outer products (B, H, N, D, Dv), summed along N.
        # The inclusive cumsum is the trick: key i belongs to query i's prefix.
        S = torch.einsum("bhnd,bhne->bhnde", phi_k, value).cumsum(dim=2)
        z = phi_k.cumsum(dim=2)  # (B, H, N, D)
        num = torch.einsum("bhnd,bhnde->bhne", phi_q, S)
        den = torch.einsum("bhnd,bhnd->bhn", phi_q, z)
    else:
        S = torch.einsum("bhnd,bhne->bhde", phi_k, value)  # (B, H, D, Dv), never (N, N)
        z = phi_k.sum(dim=2)  # (B, H, D)
        num = torch.einsum("bhnd,bhde->bhne", phi_q, S)
        den = torch.einsum("bhnd,bhd->bhn", phi_q, z)
    return num / (den + eps).unsqueeze(-1)  # eps once, on the scalar normaliser
