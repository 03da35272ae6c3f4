"""SiLU (x * sigmoid(x), Elfwing et al. 2018 / "swish") as a torch.autograd.Function with the
backward written by hand."""

import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        # stable for |x| = 1e4: exp(-x) by hand would give inf * 0 = NaN
        s = torch.sigmoid(x)
        # d/dx [x s(x)] = s + x s (1 - s)
        return grad_output * s * (1 + x * (1 - s))
