# Written from the prompt by the card's author.
# sigmoid(x) = (1 + tanh(x / 2)) / 2, which is finite for every x; saves x only.
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        s = 0.5 * (1.0 + torch.tanh(0.5 * x))
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = 0.5 * (1.0 + torch.tanh(0.5 * x))
        ds = s * (1.0 - s)
        return grad_output * (s + x * ds)
