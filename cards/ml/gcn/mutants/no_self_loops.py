# expect: no self-loops
import torch
from torch import nn


class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * 0.1)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x, edge_index):
        n = x.shape[0]
        src, dst = edge_index
        h = x @ self.weight.T
        deg = torch.ones(n, dtype=h.dtype, device=h.device).index_add(
            0, dst, torch.ones(src.shape[0], dtype=h.dtype, device=h.device)
        )
        norm = (deg[src] * deg[dst]).rsqrt()
        # bug: the +1 is in the degree, but the node's own features are never added
        out = torch.zeros_like(h).index_add(0, dst, h[src] * norm[:, None])
        return out if self.bias is None else out + self.bias
