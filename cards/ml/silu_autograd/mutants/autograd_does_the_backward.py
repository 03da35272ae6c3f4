# expect: not SiLUFunction's backward
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * s * (1 + x * (1 - s))

    # bug: apply overridden, so autograd records the forward's ops and the backward is never used
    @classmethod
    def apply(cls, x):
        return x * torch.sigmoid(x)
