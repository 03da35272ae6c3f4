"""A multi-layer perceptron: Linear layers with a ReLU (then dropout, in training) after each
hidden layer and nothing after the output layer, as nn.Sequential(Linear, ReLU, Dropout, ...,
Linear)."""

import itertools

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        sizes = [in_features, *hidden_sizes, out_features]
        # A ModuleList of Linear layers: parameters() is [W0, b0, W1, b1, ...], nothing else.
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in itertools.pairwise(sizes)
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
            if self.training and self.dropout > 0:  # inverted dropout, training only
                keep = torch.rand_like(x) >= self.dropout
                x = x * keep / (1 - self.dropout)
        return self.layers[-1](x)  # no activation after the output layer
