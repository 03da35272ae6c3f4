"""FSDP (ZeRO-3) in one flat shard: gather for the forward inside an autograd Function whose
backward reduce-scatters, so the shard's .grad arrives with no extra call.

Left out (torch's FSDP does them): one flat parameter per layer instead of one for the whole
model, prefetching the next layer's gather during compute, and mixed precision.
"""

import torch
import torch.distributed as dist
from torch import nn


class _GatherShards(torch.autograd.Function):
    """shard (S,) -> full flat parameters (W*S,); backward: the mean gradient's slice (S,)."""

    @staticmethod
    def forward(ctx, shard):
        world = dist.get_world_size()
        full = shard.new_empty(world * shard.numel())
        dist.all_gather_into_tensor(full, shard.detach().contiguous())
        return full

    @staticmethod
    def backward(ctx, grad_full):
        world = dist.get_world_size()
        grad = grad_full.new_empty(grad_full.numel() // world)
        # Each rank gets the sum over ranks of its own slice: 1/W of an all-reduce's traffic.
        dist.reduce_scatter_tensor(grad, grad_full.contiguous())
        return grad / world  # the mean, as DDP (gloo has no ReduceOp.AVG)


class FSDP(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        rank, world = dist.get_rank(), dist.get_world_size()
        # A list hides the module from parameters(): the shard must be the only Parameter.
        self._module = [module]
        self._slots = []  # (submodule, attribute name, shape) in parameters() order
        for name, p in module.named_parameters():
            owner_name, _, attr = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            self._slots.append((owner, attr, p.shape))
        flat = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
        self._numel = flat.numel()
        size = -(-self._numel // world)  # S = ceil(P / W)
        padded = torch.cat([flat, flat.new_zeros(world * size - self._numel)])
        self.shard = nn.Parameter(padded[rank * size : (rank + 1) * size].clone())
        # drop the full copies: the shard is the only one
        for (
            owner,
            attr,
            _,
        ) in self._slots:
            del owner._parameters[attr]
            setattr(owner, attr, None)

    def forward(self, *args, **kwargs):
        full = _GatherShards.apply(self.shard)
        views = full[: self._numel].split([s.numel() for _, _, s in self._slots])
        for (owner, attr, shape), view in zip(self._slots, views):
            # plain tensors: not registered Parameters
            setattr(owner, attr, view.view(shape))
        try:
            return self._module[0](*args, **kwargs)
        finally:
            # Free after forward: autograd keeps what backward needs, and releases it after.
            for owner, attr, _ in self._slots:
                setattr(owner, attr, None)
