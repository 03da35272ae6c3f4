# expect: not over the last dim
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        inv = torch.rsqrt(
            x32.pow(2).mean(0, keepdim=True) + self.eps
        )  # bug: first dim, not last
        return (x32 * inv * self.weight.float()).to(x.dtype)
