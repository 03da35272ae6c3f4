"""DDP's trick by hand: one flat buffer (bucket) per dtype, so each bucket is a single
all-reduce, launched asynchronously; then each gradient is copied back from its slice."""

from collections import defaultdict

import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    buckets = defaultdict(list)
    for p in model.parameters():
        if p.grad is not None:
            buckets[p.grad.dtype].append(p.grad)
    pending = []
    for grads in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        pending.append((dist.all_reduce(flat, async_op=True), flat, grads))
    world = dist.get_world_size()
    for work, flat, grads in pending:
        work.wait()
        flat /= world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
