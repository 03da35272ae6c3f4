# expect: without subtracting the max
import torch


def softmax(x, dim):
    e = torch.exp(x)  # bug: overflows to inf past ~88 in float32
    return e / e.sum(dim=dim, keepdim=True)
