# expect: the messages flow the wrong way
import torch
from torch import nn


class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * 0.1)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x, edge_index):
        n = x.shape[0]
        a = torch.zeros(n, n, dtype=x.dtype, device=x.device)
        a[edge_index[0], edge_index[1]] = 1  # bug: A[src, dst], node src receives from dst
        a = a + torch.eye(n, dtype=x.dtype, device=x.device)
        d = a.sum(1).rsqrt()
        out = (d[:, None] * a * d[None, :]) @ (x @ self.weight.T)
        return out if self.bias is None else out + self.bias
