# expect: it returned the sum in a new tensor instead
import torch
import torch.distributed as dist


def ring_allreduce(tensor: torch.Tensor) -> torch.Tensor:
    rank, world = dist.get_rank(), dist.get_world_size()
    out = tensor.clone()  # works on a copy and returns it; the caller's tensor is unchanged
    n = out.numel()
    size = -(-n // world)

    def chunk(i):
        lo = min((i % world) * size, n)
        return out[lo : min(lo + size, n)]

    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):
        incoming = torch.empty_like(chunk(rank - step - 1))
        request = dist.isend(chunk(rank - step), right)
        dist.recv(incoming, left)
        request.wait()
        chunk(rank - step - 1).add_(incoming)
    for step in range(world - 1):
        request = dist.isend(chunk(rank + 1 - step), right)
        dist.recv(chunk(rank - step), left)
        request.wait()
    return out
