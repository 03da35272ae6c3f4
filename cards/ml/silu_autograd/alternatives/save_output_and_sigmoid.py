"""Saves the output y and sigmoid s: dy/dx = s + y (1 - s), no recomputation in backward."""

import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        y = x * s
        ctx.save_for_backward(y, s)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        y, s = ctx.saved_tensors
        return grad_output * (s + y * (1 - s))
