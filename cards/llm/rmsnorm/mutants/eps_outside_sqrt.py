# expect: eps was added outside the square root
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        rms = x32.pow(2).mean(-1, keepdim=True).sqrt()
        return (x32 / (rms + self.eps) * self.weight.float()).to(
            x.dtype
        )  # bug: eps outside sqrt
