# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def _stable_sigmoid(x):
    # sigmoid via exp(-|x|), so exp never overflows
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = _stable_sigmoid(x)
        ctx.save_for_backward(x, s)
        return (x * s).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        # d/dx [x s(x)] = s + x s (1 - s) = s (1 + x (1 - s))
        return grad_output * (s * (1.0 + x * (1.0 - s)))
