"""Arguments kept on ctx (detached) instead of save_for_backward; one flat loop in backward;
out.backward(grad) on the recomputed graph."""

import torch


class Recompute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, run, *inputs):
        ctx.run = run
        ctx.inputs = [x.detach() if torch.is_tensor(x) else x for x in inputs]
        with torch.no_grad():
            return run(*inputs)

    @staticmethod
    def backward(ctx, grad):
        fresh = []
        for x, need in zip(ctx.inputs, ctx.needs_input_grad[1:]):
            if torch.is_tensor(x):
                x = x.detach()
                if need:
                    x.requires_grad = True
            fresh.append(x)
        with torch.enable_grad():
            y = ctx.run(*fresh)
        y.backward(grad)
        return (None,) + tuple(
            x.grad if torch.is_tensor(x) and x.requires_grad else None for x in fresh
        )


def checkpoint(fn, *args):
    return Recompute.apply(fn, *args)
