# expect: every collective is banned
import torch
import torch.distributed as dist


def ring_allreduce(tensor: torch.Tensor) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    n = tensor.numel()
    size = -(-n // world)
    padded = torch.zeros(size * world, dtype=tensor.dtype)
    padded[:n] = tensor
    chunks = list(padded.view(world, size))
    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):
        incoming = torch.empty_like(chunks[0])
        request = dist.isend(chunks[(rank - step) % world], right)
        dist.recv(incoming, left)
        request.wait()
        chunks[(rank - step - 1) % world].add_(incoming)
    # The all-gather through the process group's own method, which no name list catches.
    mine = chunks[(rank + 1) % world].clone()
    gathered = [torch.empty_like(mine) for _ in range(world)]
    group = dist.distributed_c10d._get_default_group()
    group.allgather([gathered], [mine]).wait()
    for r in range(world):
        chunks[(r + 1) % world].copy_(gathered[r])
    tensor.copy_(padded[:n])
