"""The module keeps its parameters as plain tensor attributes: empty placeholders between steps,
views of the all-gathered vector during a forward (set straight in the submodules' __dict__).
The gather and the gradient reduction live in an autograd.Function whose backward all-reduces
and slices (no reduce-scatter); the padding comes from F.pad."""

import math

import torch
import torch.distributed as dist
from torch import nn


class _Unshard(torch.autograd.Function):
    @staticmethod
    def forward(ctx, shard, world, rank):
        ctx.world, ctx.rank = world, rank
        out = [torch.zeros_like(shard) for _ in range(world)]
        dist.all_gather(out, shard.detach().clone())
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad):
        g = grad.contiguous().clone()
        dist.all_reduce(g)
        n = g.numel() // ctx.world
        return g[ctx.rank * n : (ctx.rank + 1) * n] / ctx.world, None, None


class FSDP(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        world, rank = dist.get_world_size(), dist.get_rank()
        params = list(module.named_parameters())
        flat = torch.cat([p.detach().reshape(-1) for _, p in params])
        P = flat.numel()
        S = math.ceil(P / world)
        flat = torch.nn.functional.pad(flat, (0, S * world - P))
        self.param = nn.Parameter(flat[rank * S : (rank + 1) * S].clone())
        self._info = (world, rank, P)
        self._where = []
        for name, p in params:
            prefix, _, leaf = name.rpartition(".")
            sub = module.get_submodule(prefix)
            del sub._parameters[leaf]
            sub.__dict__[leaf] = torch.empty(0)  # placeholder, filled per forward
            self._where.append((sub, leaf, tuple(p.shape), p.numel()))
        self._inner = (module,)

    def forward(self, *args, **kwargs):
        world, rank, _ = self._info
        full = _Unshard.apply(self.param, world, rank)
        offset = 0
        for sub, leaf, shape, n in self._where:
            sub.__dict__[leaf] = full[offset : offset + n].view(shape)
            offset += n
        out = self._inner[0](*args, **kwargs)
        for sub, leaf, _, _ in self._where:
            # drop the references: autograd keeps its own
            sub.__dict__[leaf] = torch.empty(0)
        return out
