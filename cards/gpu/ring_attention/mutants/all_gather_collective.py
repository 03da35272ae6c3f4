# expect: every collective is banned
import torch
import torch.distributed as dist


def ring_attention(q, k, v, is_causal=False):
    # Shard by shard (no big tensor), but each shard fetched with a collective broadcast.
    rank, world = dist.get_rank(), dist.get_world_size()
    B, H, n, D = q.shape
    qf = q.float() / D**0.5
    m = torch.full((B, H, n, 1), float("-inf"))
    l = torch.zeros(B, H, n, 1)
    acc = torch.zeros(B, H, n, D)
    group = dist.distributed_c10d._get_default_group()
    for src in range(world):
        kv = torch.stack([k, v]) if src == rank else torch.empty((2, B, H, n, D), dtype=q.dtype)
        opts = dist.BroadcastOptions()
        opts.rootRank = src
        group.broadcast([kv], opts).wait()
        s = qf @ kv[0].float().transpose(-1, -2)
        if is_causal:
            i = torch.arange(n)[:, None] + rank * n
            j = torch.arange(n)[None, :] + src * n
            s = s.masked_fill(j > i, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.exp(s - m_new).nan_to_num(0.0)
        a = torch.exp(m - m_new).nan_to_num(0.0)
        l = a * l + p.sum(-1, keepdim=True)
        acc = a * acc + p @ kv[1].float()
        m = m_new
    return (acc / l).to(q.dtype)
