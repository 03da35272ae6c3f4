import torch


def softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return torch.exp(xf - torch.logsumexp(xf, dim=dim, keepdim=True)).to(x.dtype)
