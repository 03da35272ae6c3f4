# expect: uses banned `torchvision.ops.MLP`
import torch
from torch import nn
from torchvision import ops as O


class MLP(nn.Module):
    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        self.net = O.MLP(in_features, [*hidden_sizes, out_features], dropout=dropout)

    def forward(self, x):
        return self.net(x)
