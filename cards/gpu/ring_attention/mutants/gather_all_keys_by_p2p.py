# expect: no tensor may exceed
import torch
import torch.distributed as dist


def ring_attention(q, k, v, is_causal=False):
    # Collect every shard around the ring, then plain attention on the whole sequence.
    rank, world = dist.get_rank(), dist.get_world_size()
    B, H, n, D = q.shape
    shards = {rank: (k, v)}
    kv = torch.stack([k, v])
    for step in range(1, world):
        incoming = torch.empty_like(kv)
        reqs = [dist.isend(kv, (rank + 1) % world), dist.irecv(incoming, (rank - 1) % world)]
        for r in reqs:
            r.wait()
        kv = incoming
        shards[(rank - step) % world] = (kv[0], kv[1])
    keys = torch.cat([shards[r][0] for r in range(world)], dim=2).float()
    values = torch.cat([shards[r][1] for r in range(world)], dim=2).float()
    s = q.float() @ keys.transpose(-1, -2) / D**0.5
    if is_causal:
        i = torch.arange(n)[:, None] + rank * n
        j = torch.arange(world * n)[None, :]
        s = s.masked_fill(j > i, float("-inf"))
    return (torch.softmax(s, dim=-1) @ values).to(q.dtype)
