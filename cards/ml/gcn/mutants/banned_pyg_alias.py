# expect: uses banned
import torch
from torch import nn
from torch_geometric.nn import GCNConv as Conv


class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        # bug: not from scratch, PyTorch Geometric's layer
        self.conv = Conv(in_features, out_features, bias=bias)
        self.weight = self.conv.lin.weight
        self.bias = self.conv.bias

    def forward(self, x, edge_index):
        return self.conv(x, edge_index)
