# expect: input `x` was modified in place
import torch


def softmax(x, dim):
    with torch.no_grad():
        x.sub_(x.amax(dim=dim, keepdim=True))  # bug: shifts the caller's tensor
    e = x.exp()
    return e / e.sum(dim=dim, keepdim=True)
