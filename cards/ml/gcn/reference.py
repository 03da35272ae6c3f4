"""A GCN layer (Kipf & Welling, 2017), as PyTorch Geometric's GCNConv with its defaults
(self-loops added, symmetric normalisation, messages flowing source -> target)."""

import math

import torch
from torch import nn


class GCNLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.uniform_(
            self.weight, -1 / math.sqrt(in_features), 1 / math.sqrt(in_features)
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]  # isolated nodes count too: not edge_index.max() + 1
        src, dst = edge_index[0], edge_index[1]
        h = x @ self.weight.T  # transform first: the aggregation is linear
        # In-degree (edges point src -> dst) plus one for the self-loop: never zero.
        deg = torch.ones(n, dtype=h.dtype, device=h.device).index_add_(
            0, dst, torch.ones_like(src, dtype=h.dtype)
        )
        inv_sqrt = deg.rsqrt()
        norm = inv_sqrt[src] * inv_sqrt[dst]
        out = h * (inv_sqrt * inv_sqrt)[:, None]  # the self-loop: 1 / sqrt(d_i d_i)
        out = out.index_add(0, dst, h[src] * norm[:, None])
        if self.bias is not None:
            out = out + self.bias  # once, after the aggregation
        return out
