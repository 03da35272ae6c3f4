# expect: gloo's blocking dist.send waits for the matching receive
import torch
import torch.distributed as dist


def ring_allreduce(tensor: torch.Tensor) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    n = tensor.numel()
    size = -(-n // world)

    def chunk(i):
        lo = min((i % world) * size, n)
        return tensor[lo : min(lo + size, n)]

    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):
        incoming = torch.empty_like(chunk(rank - step - 1))
        dist.send(chunk(rank - step), right)  # every rank sends first, nobody receives yet
        dist.recv(incoming, left)
        chunk(rank - step - 1).add_(incoming)
    for step in range(world - 1):
        dist.send(chunk(rank + 1 - step), right)
        dist.recv(chunk(rank - step), left)
