# expect: the max was taken over the whole tensor
import torch


def softmax(x, dim):
    e = torch.exp(x - x.max())  # bug: one max for the whole tensor, not one per slice
    return e / e.sum(dim=dim, keepdim=True)
