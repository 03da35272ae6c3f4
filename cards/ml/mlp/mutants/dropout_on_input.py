# expect: dropout zeroes whole rows
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        sizes = [in_features, *hidden_sizes, out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.p = dropout

    def forward(self, x):
        x = nn.functional.dropout(x, self.p, self.training)  # bug: dropout on the input features
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
