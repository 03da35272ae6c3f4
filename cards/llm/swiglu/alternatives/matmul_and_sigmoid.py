"""Plain matmuls against the layers' weights and SiLU written out as z * sigmoid(z)."""

import torch
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden_dim, bias=False):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=bias)

    @staticmethod
    def _linear(layer, v):
        out = v @ layer.weight.t()
        return out if layer.bias is None else out + layer.bias

    def forward(self, x):
        g = self._linear(self.gate_proj, x)
        h = g * torch.sigmoid(g) * self._linear(self.up_proj, x)
        return self._linear(self.down_proj, h)
