"""No autograd.Function: the gathered flat vector is a leaf that requires grad, and a hook on it
all-reduces its gradient and writes this rank's slice into shard.grad. The module is run through
torch.func.functional_call with views of the gathered vector; its own parameters are replaced
by empty tensors, so nothing full-size outlives the step."""

import torch
import torch.distributed as dist
from torch import nn
from torch.func import functional_call


class FSDP(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.world, self.rank = dist.get_world_size(), dist.get_rank()
        names, shapes, pieces = [], [], []
        for name, param in module.named_parameters():
            names.append(name)
            shapes.append(param.shape)
            pieces.append(param.detach().flatten())
        flat = torch.cat(pieces)
        self.total = flat.numel()
        self.per_rank = (self.total + self.world - 1) // self.world
        padded = torch.zeros(self.per_rank * self.world, dtype=flat.dtype)
        padded[: self.total] = flat
        lo = self.rank * self.per_rank
        self.flat_shard = nn.Parameter(padded[lo : lo + self.per_rank].clone())
        self.names, self.shapes = names, shapes
        # empty placeholders: the module keeps no full-size tensors
        with torch.no_grad():
            for name in names:
                owner, _, attr = name.rpartition(".")
                sub = module.get_submodule(owner)
                sub._parameters[attr] = nn.Parameter(
                    torch.empty(0), requires_grad=False
                )
        object.__setattr__(self, "inner", module)  # not registered as a submodule

    def _reduce_grad(self, grad):
        total = grad.clone()
        dist.all_reduce(total)
        lo = self.rank * self.per_rank
        mine = total[lo : lo + self.per_rank] / self.world
        if self.flat_shard.grad is None:
            self.flat_shard.grad = mine
        else:
            self.flat_shard.grad += mine
        # nothing worth accumulating on the temporary leaf
        return torch.zeros_like(grad)

    def forward(self, *args, **kwargs):
        gathered = [torch.empty_like(self.flat_shard) for _ in range(self.world)]
        dist.all_gather(gathered, self.flat_shard.detach())
        full = torch.cat(gathered).requires_grad_()
        full.register_hook(self._reduce_grad)
        sizes = [int(torch.Size(s).numel()) for s in self.shapes]
        views = full[: self.total].split(sizes)
        params = {n: v.view(s) for n, v, s in zip(self.names, views, self.shapes)}
        return functional_call(self.inner, params, args, kwargs)
