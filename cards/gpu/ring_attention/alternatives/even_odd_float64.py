"""Blocking send/recv with even ranks sending first, arithmetic in float64 (the result cast to
q's dtype), torch.where instead of masked_fill, and the running state kept per row as
(max, sum, accumulator). Every shard is attended, even future ones under is_causal (they only
add zeros)."""

import torch
import torch.distributed as dist


def ring_attention(q, k, v, is_causal=False):
    rank = dist.get_rank()
    world = dist.get_world_size()
    B, H, n, D = q.shape
    q64 = q.double()
    row_max = torch.full((B, H, n), -torch.inf, dtype=torch.float64)
    row_sum = torch.zeros((B, H, n), dtype=torch.float64)
    accum = torch.zeros((B, H, n, D), dtype=torch.float64)
    kk, vv = k.clone(), v.clone()
    q_pos = rank * n + torch.arange(n)
    for step in range(world):
        src = (rank - step) % world
        s = torch.einsum("bhid,bhjd->bhij", q64, kk.double()) / D**0.5
        if is_causal:
            k_pos = src * n + torch.arange(n)
            visible = k_pos[None, :] <= q_pos[:, None]
            s = torch.where(visible, s, torch.tensor(-torch.inf, dtype=s.dtype))
        new_max = torch.maximum(row_max, s.max(dim=-1).values)
        safe = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
        p = torch.exp(s - safe[..., None])
        factor = torch.exp(row_max - safe)
        row_sum = row_sum * factor + p.sum(dim=-1)
        accum = accum * factor[..., None] + torch.einsum(
            "bhij,bhjd->bhid", p, vv.double()
        )
        row_max = new_max
        if step == world - 1:
            break
        nk, nv = torch.empty_like(kk), torch.empty_like(vv)
        to, frm = (rank + 1) % world, (rank - 1) % world
        if rank % 2 == 0:
            dist.send(kk, to)
            dist.send(vv, to)
            dist.recv(nk, frm)
            dist.recv(nv, frm)
        else:
            dist.recv(nk, frm)
            dist.recv(nv, frm)
            dist.send(kk, to)
            dist.send(vv, to)
        kk, vv = nk, nv
    return (accum / row_sum[..., None]).to(q.dtype)
