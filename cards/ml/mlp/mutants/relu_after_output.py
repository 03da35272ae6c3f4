# expect: a ReLU follows the output layer too
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        sizes = [in_features, *hidden_sizes, out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.p = dropout

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))  # bug: the output layer gets a ReLU too
            x = nn.functional.dropout(x, self.p, self.training)
        return x
