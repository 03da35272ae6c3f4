# Written from the contract alone, by a writer who had not read this card's verifier.
"""Minimal FSDP by module surgery: the wrapped module's Parameters are removed
and replaced, for the duration of each forward only, by plain-tensor views
into a freshly all-gathered flat buffer. A custom autograd Function does the
all-gather in forward and, in backward, sums the full flat gradient across
ranks (all_reduce; gloo has no reduce_scatter) and returns this rank's slice
divided by W, which autograd accumulates into the shard's .grad."""

import torch
import torch.distributed as dist
from torch import nn


class _GatherFlat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, shard, world, rank):
        ctx.world, ctx.rank, ctx.s = world, rank, shard.numel()
        parts = [torch.empty_like(shard) for _ in range(world)]
        dist.all_gather(parts, shard.detach().contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad_full):
        g = grad_full.contiguous().clone()
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        lo = ctx.rank * ctx.s
        return g[lo : lo + ctx.s] / ctx.world, None, None


class FSDP(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.world = dist.get_world_size()
        self.rank = dist.get_rank()
        # unique parameters in module.parameters() order -> flat offsets
        offsets = {}
        params = []
        total = 0
        for p in module.parameters():
            offsets[id(p)] = (total, p.shape)
            params.append(p)
            total += p.numel()
        # every (owner module, attribute name) that refers to a parameter (ties included)
        self._slots = []
        for mod in module.modules():
            for name, p in list(mod._parameters.items()):
                if p is None:
                    continue
                off, shape = offsets[id(p)]
                self._slots.append((mod, name, off, shape))
        P = total
        S = -(-P // self.world) if P else 0
        dtype = params[0].dtype if params else torch.float32
        device = params[0].device if params else torch.device("cpu")
        flat = torch.zeros(self.world * S, dtype=dtype, device=device)
        with torch.no_grad():
            for p in params:
                off, _ = offsets[id(p)]
                flat[off : off + p.numel()].copy_(p.reshape(-1))
        self.numel_total = P
        self.shard_size = S
        self.flat_shard = nn.Parameter(
            flat[self.rank * S : (self.rank + 1) * S].clone()
        )
        del flat
        for mod, name, _, _ in self._slots:
            del mod._parameters[name]
        self.module = module  # now holds buffers only

    def _install(self, full):
        for mod, name, off, shape in self._slots:
            n = 1
            for d in shape:
                n *= d
            setattr(mod, name, full[off : off + n].view(shape))

    def _uninstall(self):
        for mod, name, _, _ in self._slots:
            mod.__dict__.pop(name, None)

    def forward(self, *args, **kwargs):
        full = _GatherFlat.apply(self.flat_shard, self.world, self.rank)
        self._install(full)
        try:
            return self.module(*args, **kwargs)
        finally:
            # reshard after forward: autograd keeps what backward needs
            self._uninstall()
            del full
