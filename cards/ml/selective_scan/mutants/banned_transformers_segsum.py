# expect: uses banned `transformers`
import torch
from transformers.models.mamba2 import modeling_mamba2 as M


def selective_scan(u, delta, A, B, C, D=None):
    out_dtype = u.dtype
    dt = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(dt) for t in (u, delta, A, B, C))
    dA = delta.unsqueeze(-1) * A[:, None, :]  # (b, d, l, n)
    # bug: not from scratch, transformers' segment_sum helper for the decay matrix
    decay = torch.exp(M.segment_sum(dA.permute(0, 1, 3, 2)))  # (b, d, n, l, l)
    dBu = (delta * u).unsqueeze(-1) * B.transpose(1, 2)[:, None]  # (b, d, l, n)
    x = torch.einsum("bdnij,bdjn->bdin", decay, dBu)
    y = torch.einsum("bdln,bnl->bdl", x, C)
    if D is not None:
        y = y + D.to(dt)[:, None] * u
    return y.to(out_dtype)
