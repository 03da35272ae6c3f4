# expect: the x·σ'(x) term is missing
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        # bug: treats x as a constant, d/dx[x·σ(x)] taken as σ(x)
        return grad_output * torch.sigmoid(x)
