# expect: uses banned
import torch.distributed as dist
import torch.distributed.algorithms.ddp_comm_hooks.default_hooks as hooks
from torch import nn


def average_gradients(model: nn.Module) -> None:
    group = dist.group.WORLD
    for p in model.parameters():
        if p.grad is not None:
            # DDP's own allreduce hook: divides by the world size, then all-reduces
            p.grad.copy_(hooks._allreduce_fut(group, p.grad.clone()).wait()[0])
