"""Mutant: runs fn with gradients on in forward and keeps that graph: nothing is recomputed."""
# expect: fn's graph was kept instead of being recomputed

import torch


class _Checkpoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, *args):
        ctx.fn = fn
        # Tensors go through save_for_backward; everything else (ints, None, ...) is kept as is.
        ctx.tensor_at = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        ctx.args = [None if isinstance(a, torch.Tensor) else a for a in args]
        ctx.inputs = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args]
        with torch.enable_grad():  # bug: every activation of fn is kept for backward
            ctx.out = fn(*ctx.inputs)
        return ctx.out.detach()

    @staticmethod
    def backward(ctx, grad_out):
        args = ctx.inputs
        inputs = [args[i] for i in ctx.tensor_at]
        out = ctx.out
        # A full backward through the fresh graph: parameters inside fn accumulate .grad here.
        torch.autograd.backward(out, grad_out)
        grads = [None] * len(args)
        for i, x in zip(ctx.tensor_at, inputs):
            grads[i] = x.grad
        return (None, *grads)  # none for fn


def checkpoint(fn, *args):
    return _Checkpoint.apply(fn, *args)
