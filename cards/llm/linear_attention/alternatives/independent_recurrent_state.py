# Written independently of this card's verifier, from the contract alone.
# Linear attention with phi(x) = elu(x) + 1. Non-causal: one global state S = sum_j phi(k_j) v_j^T
# and z = sum_j phi(k_j) by einsum. Causal: the RNN view, a Python loop over time carrying the
# running state (S, z), so nothing larger than (D, Dv) per head is ever built (O(N) time, no N x N).
# Computed in float32, cast back to the input dtype.
import torch
import torch.nn.functional as F


def _phi(x):
    return F.elu(x) + 1.0


def linear_attention(query, key, value, is_causal=False, eps=1e-6):
    q, k, v = _phi(query.float()), _phi(key.float()), value.float()
    if not is_causal:
        S = torch.einsum("...nd,...ne->...de", k, v)
        z = k.sum(dim=-2)  # (..., D)
        num = torch.einsum("...nd,...de->...ne", q, S)
        den = torch.einsum("...nd,...d->...n", q, z).unsqueeze(-1) + eps
        return (num / den).to(query.dtype)
    N = q.shape[-2]
    S = q.new_zeros(*q.shape[:-2], q.shape[-1], v.shape[-1])
    z = q.new_zeros(*q.shape[:-2], q.shape[-1])
    outs = []
    for t in range(N):
        kt, vt, qt = k[..., t, :], v[..., t, :], q[..., t, :]
        S = S + kt.unsqueeze(-1) * vt.unsqueeze(-2)
        z = z + kt
        num = (qt.unsqueeze(-1) * S).sum(-2)
        den = (qt * z).sum(-1, keepdim=True) + eps
        outs.append(num / den)
    return torch.stack(outs, dim=-2).to(query.dtype)
