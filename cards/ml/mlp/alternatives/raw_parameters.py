# By the card's author.
# Raw nn.Parameters registered in the order W0, b0, W1, b1, ... (weight (out, in)), matmul by
# hand, Bernoulli masks from torch.bernoulli in training.
import math

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        dims = [in_features] + list(hidden_sizes) + [out_features]
        self.n_layers = len(dims) - 1
        self.p = float(dropout)
        for i in range(self.n_layers):
            fan_in, fan_out = dims[i], dims[i + 1]
            bound = 1 / math.sqrt(fan_in)
            w = torch.empty(fan_out, fan_in).uniform_(-bound, bound)
            b = torch.empty(fan_out).uniform_(-bound, bound)
            self.register_parameter(f"w{i}", nn.Parameter(w))
            self.register_parameter(f"b{i}", nn.Parameter(b))

    def forward(self, x):
        h = x
        for i in range(self.n_layers):
            w = getattr(self, f"w{i}")
            b = getattr(self, f"b{i}")
            h = torch.matmul(h, w.t()) + b
            if i == self.n_layers - 1:
                break
            h = h.clamp(min=0)
            if self.training and self.p > 0:
                keep = torch.bernoulli(torch.full_like(h, 1 - self.p))
                h = h * keep / (1 - self.p)
        return h
