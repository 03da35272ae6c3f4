"""RMS from the L2 norm: ||x|| / sqrt(d), with eps under the square root."""

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        ms = torch.linalg.vector_norm(x32, dim=-1, keepdim=True).square() / self.dim
        y = x32 / torch.sqrt(ms + self.eps)
        return (y * self.weight.float()).type_as(x)
