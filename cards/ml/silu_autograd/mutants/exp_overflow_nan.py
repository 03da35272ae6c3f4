# expect: got nan
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + torch.exp(-x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        e = torch.exp(-x)
        # bug: exp(1e4) = inf, so inf / inf = NaN for very negative x
        return grad_output * (1 + e + x * e) / (1 + e) ** 2
