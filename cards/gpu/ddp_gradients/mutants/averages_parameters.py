# expect: the gradients were not averaged
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.data)  # averages the weights (model averaging), not the gradients
            p.data /= world
