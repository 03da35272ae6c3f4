# expect: keep the input's dtype
import torch


def softmax(x, dim):
    x = x.float()  # bug: upcast for accuracy, but never cast back
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
