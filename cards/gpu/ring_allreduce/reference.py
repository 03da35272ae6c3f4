"""Ring all-reduce: reduce-scatter then all-gather, each step one message to the right.

Each rank sends 2(W - 1) chunks of ceil(n/W) elements, about 2n in all whatever W is: that is
why the ring is bandwidth-optimal, and why NCCL uses it for large tensors.
"""

import torch
import torch.distributed as dist


def ring_allreduce(tensor: torch.Tensor) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    if world == 1:
        return
    flat = tensor.view(-1)  # a view: updating its chunks updates `tensor` in place
    n = flat.numel()
    size = -(-n // world)  # ceil(n / W); the last chunks may be short or empty (n < W)

    def chunk(i):
        lo = min((i % world) * size, n)
        return flat[lo : min(lo + size, n)]

    right, left = (rank + 1) % world, (rank - 1) % world
    # Reduce-scatter: at step s, pass chunk rank - s on and add the incoming chunk rank - s - 1.
    # After W - 1 steps, chunk rank + 1 holds the sum over every rank.
    for step in range(world - 1):
        incoming = torch.empty_like(chunk(rank - step - 1))
        # isend, not send: gloo's send blocks until the receive is posted, and every rank sends.
        request = dist.isend(chunk(rank - step), right)
        dist.recv(incoming, left)
        request.wait()
        # in the tensor's dtype: int64 stays exact
        chunk(rank - step - 1).add_(incoming)
    # All-gather: pass the finished chunks around; each arrives straight into its place.
    for step in range(world - 1):
        request = dist.isend(chunk(rank + 1 - step), right)
        dist.recv(chunk(rank - step), left)
        request.wait()
