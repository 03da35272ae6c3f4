# expect: D used the out-degree
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
        # bug: degree counted at the source (out-degree)
        deg = torch.ones(n, dtype=h.dtype, device=h.device).index_add(
            0, src, torch.ones(src.shape[0], dtype=h.dtype, device=h.device)
        )
        norm = (deg[src] * deg[dst]).rsqrt()
        out = h / deg[:, None] + torch.zeros_like(h).index_add(0, dst, h[src] * norm[:, None])
        return out if self.bias is None else out + self.bias
