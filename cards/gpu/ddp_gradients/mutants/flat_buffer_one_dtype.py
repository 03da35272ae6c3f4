# expect: assign a gradient with dtype
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    # One flat float32 buffer for every gradient: the float64 gradient is squeezed through it.
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in model.parameters():
        if p.grad is not None:
            n = p.grad.numel()
            p.grad = flat[offset : offset + n].view_as(p)
            offset += n
