"""Gate and up as one fused matmul (weights concatenated at call time, then split), computed in
float32 whatever the input's dtype and cast back at the end."""

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden_dim, bias=False):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=bias)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=bias)

    def forward(self, x):
        w = torch.cat([self.gate_proj.weight, self.up_proj.weight]).float()
        b = None
        if self.gate_proj.bias is not None:
            b = torch.cat([self.gate_proj.bias, self.up_proj.bias]).float()
        gate, up = F.linear(x.float(), w, b).chunk(2, dim=-1)
        down_b = None if self.down_proj.bias is None else self.down_proj.bias.float()
        out = F.linear(F.silu(gate) * up, self.down_proj.weight.float(), down_b)
        return out.to(x.dtype)
