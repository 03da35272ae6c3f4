# expect: a None gradient must stay None
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)  # "every parameter gets a gradient"
        dist.all_reduce(p.grad)
        p.grad /= world
