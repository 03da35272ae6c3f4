# expect: with nn.Linear shapes
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        sizes = [in_features, *hidden_sizes, out_features]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            # bug: (in, out) so that x @ W works, and weights registered before all biases
            self.weights.append(nn.Parameter(torch.randn(a, b) / a**0.5))
            self.biases.append(nn.Parameter(torch.zeros(b)))
        self.p = dropout

    def forward(self, x):
        n = len(self.weights)
        for k in range(n):
            x = x @ self.weights[k] + self.biases[k]
            if k < n - 1:
                x = nn.functional.dropout(torch.relu(x), self.p, self.training)
        return x
