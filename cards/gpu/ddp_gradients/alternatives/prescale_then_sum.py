"""Divide first, then sum (what DDP's default hook does: gradient / world, then all-reduce),
with a named ReduceOp spelled through the module and the group passed explicitly."""

import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    group = dist.group.WORLD
    size = dist.get_world_size(group)
    works = []
    for _, p in model.named_parameters():
        if p.grad is None:
            continue
        p.grad.mul_(1.0 / size)
        works.append(
            dist.all_reduce(p.grad, dist.ReduceOp.SUM, group=group, async_op=True)
        )
    for w in works:
        w.wait()
