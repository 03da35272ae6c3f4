# expect: uses banned `torch.nn.functional.softmax`
import torch.nn.functional as G


def softmax(x, dim):
    return G.softmax(x, dim=dim)  # bug: not from scratch
