# expect: uses banned
import torch
import torch.distributed as dist
from torch.nn.functional import scaled_dot_product_attention as attend


def ring_attention(q, k, v, is_causal=False):
    rank, world = dist.get_rank(), dist.get_world_size()
    n = q.shape[2]
    outs, lses = [], []
    kv = torch.stack([k, v])
    for step in range(world):
        src = (rank - step) % world
        if step < world - 1:
            incoming = torch.empty_like(kv)
            reqs = [dist.isend(kv, (rank + 1) % world), dist.irecv(incoming, (rank - 1) % world)]
        if not (is_causal and src > rank):
            outs.append(attend(q, kv[0], kv[1], is_causal=is_causal and src == rank).float())
            s = q.float() @ kv[0].float().transpose(-1, -2) / q.shape[-1] ** 0.5
            if is_causal and src == rank:
                s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
            lses.append(torch.logsumexp(s, dim=-1, keepdim=True))
        if step < world - 1:
            for r in reqs:
                r.wait()
            kv = incoming
    lse = torch.logsumexp(torch.stack(lses), dim=0)
    return sum(o * torch.exp(x - lse) for o, x in zip(outs, lses)).to(q.dtype)
