# expect: went through float32
import torch
import torch.distributed as dist
from torch import nn


def average_gradients(model: nn.Module) -> None:
    w = dist.get_world_size()
    ps = [p for p in model.parameters() if p.grad is not None]
    flat = torch.cat([p.grad.reshape(-1).float() for p in ps])
    dist.all_reduce(flat)
    flat /= w
    off = 0
    for p in ps:
        n = p.grad.numel()
        p.grad.copy_(flat[off:off + n].view_as(p.grad))
        off += n
