# Written independently of this card's verifier, from the contract alone.
# Checkpointing as an autograd.Function that saves only the tensor arguments (save_for_backward)
# and the RNG state. Backward restores the RNG state (so dropout masks repeat), re-runs fn on
# detached copies under enable_grad and backpropagates through that fresh graph with
# torch.autograd.backward, so the closure's parameters get their gradients accumulated as usual
# and the detached copies' .grad are returned as the input gradients. Non-tensor args pass
# straight through; fn may return a tensor or a tuple of tensors. A zero-size dummy tensor that
# requires grad is passed to the Function so its outputs join the graph even when no argument
# requires grad (only the closure's parameters do).
import torch


class _Checkpoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, info, _dummy, *args):
        ctx.fn = fn
        ctx.tensor_pos = [i for i, a in enumerate(args) if torch.is_tensor(a)]
        ctx.others = {i: a for i, a in enumerate(args) if not torch.is_tensor(a)}
        ctx.n_args = len(args)
        ctx.cpu_rng = torch.get_rng_state()
        devs = sorted(
            {a.device.index or 0 for a in args if torch.is_tensor(a) and a.is_cuda}
        )
        ctx.cuda_rng = [(d, torch.cuda.get_rng_state(d)) for d in devs]
        ctx.save_for_backward(*[args[i] for i in ctx.tensor_pos])
        with torch.no_grad():
            out = fn(*args)
        info["tuple"] = isinstance(out, tuple)
        return out if info["tuple"] else (out,)

    @staticmethod
    def backward(ctx, *grads):
        args = [None] * ctx.n_args
        detached = []
        for pos, t in zip(ctx.tensor_pos, ctx.saved_tensors):
            d = t.detach().requires_grad_(t.requires_grad)
            args[pos] = d
            detached.append(d)
        for i, a in ctx.others.items():
            args[i] = a
        cpu_now = torch.get_rng_state()
        cuda_now = [(d, torch.cuda.get_rng_state(d)) for d, _ in ctx.cuda_rng]
        torch.set_rng_state(ctx.cpu_rng)
        for d, s in ctx.cuda_rng:
            torch.cuda.set_rng_state(s, d)
        try:
            with torch.enable_grad():
                out = ctx.fn(*args)
        finally:
            torch.set_rng_state(cpu_now)
            for d, s in cuda_now:
                torch.cuda.set_rng_state(s, d)
        outs = out if isinstance(out, tuple) else (out,)
        pairs = [
            (o, g)
            for o, g in zip(outs, grads)
            if torch.is_tensor(o) and o.requires_grad and g is not None
        ]
        if pairs:
            torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        input_grads = [None] * ctx.n_args
        for pos, d in zip(ctx.tensor_pos, detached):
            input_grads[pos] = d.grad if d.requires_grad else None
        return (None, None, None, *input_grads)


def checkpoint(fn, *args):
    info = {}
    dummy = torch.empty(0, requires_grad=True)
    out = _Checkpoint.apply(fn, info, dummy, *args)
    return tuple(out) if info["tuple"] else out[0]
