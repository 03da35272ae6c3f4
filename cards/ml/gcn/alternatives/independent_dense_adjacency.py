# Written from the contract alone, by a writer who had not read this card's verifier.
import math

import torch
from torch import nn


class GCNLayer(nn.Module):
    """GCN layer built on an explicit dense normalised adjacency matrix."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        bound = math.sqrt(6.0 / (in_features + out_features))
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, x, edge_index):
        n = x.shape[0]
        src, dst = edge_index[0].long(), edge_index[1].long()
        # A_hat[target, source]: row i collects messages arriving at node i
        A = torch.zeros(n, n, dtype=x.dtype, device=x.device)
        A.index_put_(
            (dst, src),
            torch.ones(src.numel(), dtype=x.dtype, device=x.device),
            accumulate=True,
        )
        A = A + torch.eye(n, dtype=x.dtype, device=x.device)
        deg = A.sum(dim=1)  # in-degree + 1
        d = deg.rsqrt()
        A_norm = d[:, None] * A * d[None, :]
        out = A_norm @ (x @ self.weight.T)
        if self.bias is not None:
            out = out + self.bias
        return out
