# expect: uses banned `torch.nn.functional.rms_norm`
import torch
from torch import nn
from torch.nn import functional as G


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # bug: not from scratch, torch's rms_norm through an alias
        return G.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(x.dtype)
