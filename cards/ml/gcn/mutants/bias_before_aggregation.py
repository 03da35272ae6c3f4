# expect: the bias was added before the aggregation
import torch
from torch import nn


class GCNLayer(nn.Linear):
    def forward(self, x, edge_index):
        n = x.shape[0]
        h = super().forward(x)  # bug: x W^T + b, then aggregated (b scaled by the norms)
        a = torch.zeros(n, n, dtype=x.dtype, device=x.device)
        a[edge_index[1], edge_index[0]] = 1
        a = a + torch.eye(n, dtype=x.dtype, device=x.device)
        d = a.sum(1).rsqrt()
        return (d[:, None] * a * d[None, :]) @ h
