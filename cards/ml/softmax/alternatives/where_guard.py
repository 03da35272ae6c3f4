# Another style, by the card's author:
# entry), exp, and division; NaN comes from 0/0 in an all -inf slice.
import torch


def softmax(x, dim):
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    m = torch.amax(work, dim=dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    num = torch.exp(work - m)
    den = torch.sum(num, dim=dim, keepdim=True)
    return (num / den).to(x.dtype)
