# Written from the contract alone, by a writer who had not read this card's verifier.
"""Average gradients with one all-reduce per dtype bucket: the existing
gradients are flattened into a single buffer (fewer, larger messages, as DDP's
buckets do), summed across ranks, divided by the world size, and copied back
into each .grad. None gradients are left untouched."""

import torch
import torch.distributed as dist


def average_gradients(model) -> None:
    world = dist.get_world_size()
    buckets = {}
    for p in model.parameters():
        if p.grad is None:
            continue
        buckets.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
    for grads in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world)
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n
