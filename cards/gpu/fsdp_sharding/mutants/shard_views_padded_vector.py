# expect: the shard is a view
import math
import torch
import torch.distributed as dist
from torch import nn


class _GatherShards(torch.autograd.Function):
    @staticmethod
    def forward(ctx, shard, world):
        ctx.world = world
        full = shard.new_empty(shard.numel() * world)
        dist.all_gather_into_tensor(full, shard.detach().contiguous())
        return full

    @staticmethod
    def backward(ctx, grad_full):
        grad_full = grad_full.contiguous()
        out = grad_full.new_empty(grad_full.numel() // ctx.world)
        dist.reduce_scatter_tensor(out, grad_full)
        return out / ctx.world, None


class FSDP(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self._world = dist.get_world_size()
        rank = dist.get_rank()
        self._slots = []
        flats = []
        for mod_name, sub in module.named_modules():
            for name, p in list(sub._parameters.items()):
                if p is None:
                    continue
                self._slots.append((sub, name, p.shape, p.numel()))
                flats.append(p.detach().reshape(-1))
        # module.parameters() order == order of named_modules + _parameters (no sharing here)
        flat = torch.cat(flats)
        self._numel = flat.numel()
        S = math.ceil(self._numel / self._world)
        padded = torch.zeros(S * self._world, dtype=flat.dtype)
        padded[: self._numel] = flat
        self.shard = nn.Parameter(padded[rank * S:(rank + 1) * S])
        del flat, padded, flats
        for sub, name, _, _ in self._slots:
            del sub._parameters[name]
        self._module = [module]

    def forward(self, *args, **kwargs):
        full = _GatherShards.apply(self.shard, self._world)
        pieces = full[: self._numel].split([s[3] for s in self._slots])
        for (sub, name, shape, _), piece in zip(self._slots, pieces):
            setattr(sub, name, piece.view(shape))
        try:
            return self._module[0](*args, **kwargs)
        finally:
            for sub, name, _, _ in self._slots:
                delattr(sub, name)
