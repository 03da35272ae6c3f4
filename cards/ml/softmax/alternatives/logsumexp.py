"""exp(x - logsumexp(x)): torch.logsumexp is stable on its own (and gives -inf for an all -inf
slice, hence NaN); computed in float64 and cast back."""

import torch


def softmax(x, dim):
    x64 = x.double()
    return torch.exp(x64 - torch.logsumexp(x64, dim=dim, keepdim=True)).to(x.dtype)
