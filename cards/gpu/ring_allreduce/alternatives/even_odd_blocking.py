"""Blocking send and recv only, deadlock-free by taking turns: even ranks send first, odd ranks
receive first (with an odd world size, rank W-1 and rank 0 are both even, but rank 0 receives
from W-1 only after W-1 has received from W-2, so the chain unwinds). The ring runs the other
way round: send to the left neighbour, receive from the right. Chunks from tensor_split."""

import torch
import torch.distributed as dist


def _exchange(rank, send_buf, send_to, recv_buf, recv_from):
    if rank % 2 == 0:
        dist.send(send_buf, send_to)
        dist.recv(recv_buf, recv_from)
    else:
        dist.recv(recv_buf, recv_from)
        dist.send(send_buf, send_to)


def ring_allreduce(tensor: torch.Tensor) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    if world == 1:
        return
    # sizes differ by at most one
    parts = list(torch.tensor_split(tensor.view(-1), world))
    to, frm = (rank - 1) % world, (rank + 1) % world
    # reduce-scatter, ring direction reversed: rank r ends with the full chunk (r - 1) % W
    for step in range(world - 1):
        out_idx = (rank + step) % world
        in_idx = (rank + step + 1) % world
        buf = torch.empty_like(parts[in_idx])
        _exchange(rank, parts[out_idx].clone(), to, buf, frm)
        parts[in_idx] += buf
    for step in range(world - 1):
        out_idx = (rank - 1 + step) % world  # chunks travel towards lower ranks
        in_idx = (rank + step) % world
        buf = torch.empty_like(parts[in_idx])
        _exchange(rank, parts[out_idx].clone(), to, buf, frm)
        parts[in_idx].copy_(buf)
