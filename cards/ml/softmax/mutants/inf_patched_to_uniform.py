# expect: an all -inf slice must give NaN
import torch


def softmax(x, dim):
    # bug: "guards" the -inf entries with a large finite number: an all -inf slice becomes
    # uniform instead of NaN
    x = torch.nan_to_num(x, neginf=-1e30)
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
