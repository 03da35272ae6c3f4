"""torch.autograd.grad over the inputs and every leaf the recomputed graph reaches (found by
walking grad_fn), with the parameter gradients accumulated by hand into .grad."""

import torch


def _leaves(root):
    seen, stack, found = set(), [root], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):  # AccumulateGrad: a leaf that requires grad
            found.append(node.variable)
        stack.extend(n for n, _ in node.next_functions)
    return found


class CheckpointFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, *args):
        ctx.fn = fn
        ctx.is_tensor = [isinstance(a, torch.Tensor) for a in args]
        ctx.plain = [None if t else a for a, t in zip(args, ctx.is_tensor)]
        ctx.save_for_backward(*[a for a, t in zip(args, ctx.is_tensor) if t])
        return fn(*args)

    @staticmethod
    def backward(ctx, grad_output):
        saved = iter(ctx.saved_tensors)
        args, inputs = [], []
        for k, (is_t, plain) in enumerate(zip(ctx.is_tensor, ctx.plain)):
            if is_t:
                t = next(saved).detach()
                t.requires_grad_(ctx.needs_input_grad[k + 1])
                args.append(t)
                if t.requires_grad:
                    inputs.append(t)
            else:
                args.append(plain)
        with torch.enable_grad():
            out = ctx.fn(*args)
        ids = {id(t) for t in inputs}
        params = [p for p in _leaves(out.grad_fn) if id(p) not in ids]
        grads = torch.autograd.grad(
            out, inputs + params, grad_output, allow_unused=True
        )
        for p, g in zip(params, grads[len(inputs) :]):
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g
        by_input = dict(zip(map(id, inputs), grads[: len(inputs)]))
        return (
            None,
            *(
                by_input.get(id(a)) if isinstance(a, torch.Tensor) else None
                for a in args
            ),
        )


def checkpoint(fn, *args):
    return CheckpointFn.apply(fn, *args)
