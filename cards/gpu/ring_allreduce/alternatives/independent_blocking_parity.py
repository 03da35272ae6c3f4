# Written from the contract alone, by a writer who had not read this card's verifier.
"""Ring all-reduce with blocking send/recv only. Deadlock is avoided by
ordering: even ranks send then receive, odd ranks receive then send (with an
odd world size the one even->even edge W-1 -> 0 still drains because rank 1
receives first). The flat tensor is zero-padded to W equal chunks of
ceil(n/W) so short tensors (n < W) and any world size work; each rank sends
exactly 2(W-1)*ceil(n/W) elements."""

import torch
import torch.distributed as dist


def _exchange(rank, send_buf, recv_buf, right, left):
    if rank % 2 == 0:
        dist.send(send_buf, dst=right)
        dist.recv(recv_buf, src=left)
    else:
        dist.recv(recv_buf, src=left)
        dist.send(send_buf, dst=right)


def ring_allreduce(tensor):
    world = dist.get_world_size()
    rank = dist.get_rank()
    n = tensor.numel()
    if world == 1 or n == 0:
        return tensor
    c = -(-n // world)
    buf = torch.zeros(world * c, dtype=tensor.dtype, device=tensor.device)
    buf[:n] = tensor.reshape(-1)
    chunks = buf.view(world, c)
    right = (rank + 1) % world
    left = (rank - 1) % world
    incoming = torch.empty(c, dtype=tensor.dtype, device=tensor.device)

    # reduce-scatter: after W-1 steps rank r owns the full sum of chunk (r+1) % W
    for step in range(world - 1):
        send_idx = (rank - step) % world
        recv_idx = (rank - step - 1) % world
        _exchange(rank, chunks[send_idx].clone(), incoming, right, left)
        chunks[recv_idx] += incoming

    # all-gather: circulate the finished chunks
    for step in range(world - 1):
        send_idx = (rank + 1 - step) % world
        recv_idx = (rank - step) % world
        _exchange(rank, chunks[send_idx].clone(), incoming, right, left)
        chunks[recv_idx].copy_(incoming)

    tensor.copy_(buf[:n].view_as(tensor))
    return tensor
