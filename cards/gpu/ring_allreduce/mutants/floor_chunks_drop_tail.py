# expect: drop the tail
import torch
import torch.distributed as dist


def ring_allreduce(tensor: torch.Tensor) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    size = tensor.numel() // world  # floor: the last n % W elements belong to no chunk
    chunks = [tensor[i * size : (i + 1) * size] for i in range(world)]
    right, left = (rank + 1) % world, (rank - 1) % world
    for step in range(world - 1):
        send, recv = chunks[(rank - step) % world], chunks[(rank - step - 1) % world]
        incoming = torch.empty_like(recv)
        request = dist.isend(send, right)
        dist.recv(incoming, left)
        request.wait()
        recv += incoming
    for step in range(world - 1):
        request = dist.isend(chunks[(rank + 1 - step) % world], right)
        dist.recv(chunks[(rank - step) % world], left)
        request.wait()
