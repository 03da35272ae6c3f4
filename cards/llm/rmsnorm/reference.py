"""RMSNorm (Zhang & Sennrich, 2019, "Root Mean Square Layer Normalization"), as in Llama.

Left out: the partial-RMS variant (pRMSNorm) and fused kernels.
"""

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The subtlety: square and average in float32, or half-precision inputs overflow.
        x32 = x.float()
        inv_rms = torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (x32 * inv_rms * self.weight.float()).to(x.dtype)
