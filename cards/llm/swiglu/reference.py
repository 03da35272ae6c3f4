"""SwiGLU feed-forward (Shazeer, 2020, "GLU Variants Improve Transformer"), as Llama's MLP.

Left out: tensor-parallel slicing, fused gate/up projections and dropout.
"""

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, bias: bool = False):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The SiLU gates the up branch: silu on gate_proj only, then an elementwise product.
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
