"""A parallel scan: Hillis-Steele doubling over the sequence, log2(L) rounds. Each step is the
affine map x -> a x + b; composing (a1, b1) then (a2, b2) gives (a1 a2, a2 b1 + b2), which is
associative, so every prefix is built in O(log L) vectorised rounds instead of L steps."""

import torch


def selective_scan(u, delta, A, B, C, D=None):
    out_dtype = u.dtype
    dtype = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    L = u.shape[-1]
    a = torch.exp(delta[..., None] * A[:, None, :])  # (b, d, L, n)
    x = (delta * u)[..., None] * B.transpose(1, 2)[:, None]  # (b, d, L, n)
    step = 1
    while step < L:
        # prefix ending at l absorbs the prefix ending at l - step (identity before the start)
        a_prev = torch.cat([torch.ones_like(a[:, :, :step]), a[:, :, :-step]], dim=2)
        x_prev = torch.cat([torch.zeros_like(x[:, :, :step]), x[:, :, :-step]], dim=2)
        x = a * x_prev + x
        a = a * a_prev
        step *= 2
    y = torch.einsum("bdln,bnl->bdl", x, C)
    if D is not None:
        y = y + D.to(dtype)[:, None] * u
    return y.to(out_dtype)
