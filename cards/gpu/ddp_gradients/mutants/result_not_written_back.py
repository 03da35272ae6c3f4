# expect: each rank kept its own local gradient
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            g = p.grad.clone()
            dist.all_reduce(g)
            g = g / world  # the mean, left in a local variable: p.grad never sees it
