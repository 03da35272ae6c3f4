"""Aggregate the raw features first (the operator is linear, so (Â x) Wᵀ = Â (x Wᵀ)), with a
Python loop over the edges building a list of weighted contributions per node, and the self-loops
added as extra edges."""

import torch
from torch import nn


class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * 0.1)
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, x, edge_index):
        n = x.shape[0]
        pairs = [(int(s), int(t)) for s, t in edge_index.t().tolist()]
        pairs += [(i, i) for i in range(n)]  # self-loops
        deg = [0] * n
        for _, t in pairs:
            deg[t] += 1
        rows = [[] for _ in range(n)]
        for s, t in pairs:
            rows[t].append(x[s] / (deg[s] * deg[t]) ** 0.5)
        agg = torch.stack([torch.stack(r).sum(0) for r in rows])
        out = agg @ self.weight.T
        return out + self.bias if self.bias is not None else out
