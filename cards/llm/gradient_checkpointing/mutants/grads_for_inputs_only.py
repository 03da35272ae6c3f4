"""Mutant: backward uses torch.autograd.grad on the inputs only: parameters inside fn get nothing."""
# expect: the parameters used inside fn got no gradient

import torch


class _Checkpoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, *args):
        ctx.fn = fn
        # Tensors go through save_for_backward; everything else (ints, None, ...) is kept as is.
        ctx.tensor_at = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        ctx.args = [None if isinstance(a, torch.Tensor) else a for a in args]
        ctx.save_for_backward(*(args[i] for i in ctx.tensor_at))
        # forward of a Function already runs without grad: fn's intermediates are not kept.
        return fn(*args)

    @staticmethod
    def backward(ctx, grad_out):
        args = list(ctx.args)
        inputs = []
        for i, t in zip(ctx.tensor_at, ctx.saved_tensors):
            # Detach: the recomputed graph must stop here, or the layers before checkpoint
            # would receive this gradient twice (once here, once from what we return).
            x = t.detach().requires_grad_(ctx.needs_input_grad[1 + i])
            args[i] = x
            inputs.append(x)
        with torch.enable_grad():  # backward runs under no_grad
            out = ctx.fn(*args)
        # A full backward through the fresh graph: parameters inside fn accumulate .grad here.
        wanted = [x for x in inputs if x.requires_grad]
        found = iter(torch.autograd.grad(out, wanted, grad_out))  # bug: parameters left out
        grads = [None] * len(args)
        for i, x in zip(ctx.tensor_at, inputs):
            grads[i] = next(found) if x.requires_grad else None
        return (None, *grads)  # none for fn


def checkpoint(fn, *args):
    return _Checkpoint.apply(fn, *args)
