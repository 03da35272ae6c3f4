# expect: centred (mean subtracted) as in LayerNorm
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        centered = x32 - x32.mean(-1, keepdim=True)  # bug: that is LayerNorm
        y = centered * torch.rsqrt(centered.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)
