# expect: softplus was applied to delta
import torch


def selective_scan(u, delta, A, B, C, D=None):
    out_dtype = u.dtype
    # float32 at least: a state kept in half precision drifts over long sequences
    dtype = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    batch, dim, length = u.shape
    delta = torch.nn.functional.softplus(delta)  # bug: as in the Mamba block, but not here
    dA = torch.exp(delta.unsqueeze(-1) * A[:, None, :])  # (b, d, l, n): exp(delta A)
    dBu = (delta * u).unsqueeze(-1) * B.transpose(1, 2)[:, None]  # (b, d, l, n)
    x = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(length):
        x = dA[:, :, t] * x + dBu[:, :, t]  # update the state first, then read it
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, t]))
    y = torch.stack(ys, dim=-1)  # (b, d, l)
    if D is not None:
        y = y + D.to(dtype)[:, None] * u
    return y.to(out_dtype)
