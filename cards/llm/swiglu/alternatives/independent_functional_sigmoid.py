# Written independently of this card's verifier, from the contract alone.
# SwiGLU with the SiLU written out as g / (1 + exp(-g)) and the three projections applied with
# F.linear on the modules' own weights (and biases, when bias=True).
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
        g = F.linear(x, self.gate_proj.weight, self.gate_proj.bias)
        u = F.linear(x, self.up_proj.weight, self.up_proj.bias)
        h = g / (1 + torch.exp(-g)) * u
        return F.linear(h, self.down_proj.weight, self.down_proj.bias)
