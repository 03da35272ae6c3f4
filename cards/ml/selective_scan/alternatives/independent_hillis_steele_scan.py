# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def selective_scan(u, delta, A, B, C, D=None):
    """Mamba selective scan via a log-depth (Hillis-Steele) associative scan over
    the pairs (a_t, b_t) of h_t = a_t * h_{t-1} + b_t, with (a1,b1)o(a2,b2) = (a1 a2, a2 b1 + b2)."""
    out_dtype = u.dtype
    ct = torch.promote_types(u.dtype, torch.float32)
    u_, dl = u.to(ct), delta.to(ct)
    A_, B_, C_ = A.to(ct), B.to(ct), C.to(ct)
    L = u.shape[-1]
    # (B, D, N, L)
    a = torch.exp(dl.unsqueeze(2) * A_.unsqueeze(0).unsqueeze(-1))
    b = (dl * u_).unsqueeze(2) * B_.unsqueeze(1)
    shift = 1
    while shift < L:
        a_prev = torch.cat([torch.ones_like(a[..., :shift]), a[..., :-shift]], dim=-1)
        b_prev = torch.cat([torch.zeros_like(b[..., :shift]), b[..., :-shift]], dim=-1)
        b = a * b_prev + b
        a = a * a_prev
        shift *= 2
    # b now holds h_t for every t
    y = (b * C_.unsqueeze(1)).sum(dim=2)  # (B, D, L)
    if D is not None:
        y = y + u_ * D.to(ct).unsqueeze(-1)
    return y.to(out_dtype)
