"""Ring attention, forward: the key/value shards rotate around the ring while each rank merges
their contributions into its own queries' output with an online softmax.

The tricks: one message per step (k and v stacked, 2 shard-sizes), posted before the compute so
communication overlaps with attention (on GPUs the whole point); with is_causal, shards from
later ranks are skipped and only the own shard needs the triangle mask.
"""

import torch
import torch.distributed as dist


def ring_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False
) -> torch.Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    B, H, n, D = q.shape
    # The scale folded into q once; float32 math whatever the input dtype.
    qf = q.float() * D**-0.5
    m = q.new_full((B, H, n, 1), float("-inf"), dtype=torch.float32)  # running row max
    l = q.new_zeros((B, H, n, 1), dtype=torch.float32)  # running sum of exp
    acc = q.new_zeros((B, H, n, D), dtype=torch.float32)  # running unnormalised output
    kv = torch.stack([k, v])  # (2, B, H, n, D): one message per step, 2 shard-sizes
    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world):
        source = (rank - step) % world  # the rank whose shard kv holds now
        if step < world - 1:  # post the exchange first: it runs while we compute
            incoming = torch.empty_like(kv)
            requests = [dist.isend(kv, right), dist.irecv(incoming, left)]
        if not (is_causal and source > rank):  # a later shard is wholly in the future
            s = qf @ kv[0].float().transpose(-1, -2)  # (B, H, n, n): one block
            if is_causal and source == rank:  # own shard: global j <= i is local j <= i
                keep = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
                s = s.masked_fill(~keep, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            p = torch.exp(s - m_new)
            alpha = torch.exp(m - m_new)  # rescales what was summed under the old max
            l = alpha * l + p.sum(dim=-1, keepdim=True)
            acc = alpha * acc + p @ kv[1].float()
            m = m_new
        if step < world - 1:
            for request in requests:
                request.wait()
            kv = incoming
    return (acc / l).to(q.dtype)
