# expect: uses banned `torch.autograd.grad`
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            y = xx * torch.sigmoid(xx)
            (g,) = torch.autograd.grad(y, xx, grad_output)
        return g
