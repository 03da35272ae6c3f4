# expect: not dim=0
import torch


def softmax(x, dim):
    # bug: the dim argument is ignored, the last dim is always used
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
