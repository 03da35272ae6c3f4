# expect: keep the input's dtype
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        x32 = x.float()
        return x32 * torch.sigmoid(x32)  # bug: half inputs come back as float32

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        x32 = x.float()
        s = torch.sigmoid(x32)
        return (grad_output.float() * s * (1 + x32 * (1 - s))).to(x.dtype)
