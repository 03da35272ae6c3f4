# Written from the contract alone, by a writer who had not read this card's verifier.
import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """Weights held directly in one ParameterList, interleaved [W0, b0, W1, b1, ...]
    with nn.Linear's shapes and default init; the forward is explicit x @ W.T + b."""

    def __init__(self, in_features, hidden_sizes, out_features, dropout=0.0):
        super().__init__()
        sizes = (
            [int(in_features)] + [int(h) for h in hidden_sizes] + [int(out_features)]
        )
        self.dropout = float(dropout)
        params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            W = nn.Parameter(torch.empty(fan_out, fan_in).uniform_(-bound, bound))
            b = nn.Parameter(torch.empty(fan_out).uniform_(-bound, bound))
            params += [W, b]
        self.params = nn.ParameterList(params)
        self.num_layers = len(sizes) - 1

    def forward(self, x):
        h = x
        for i in range(self.num_layers):
            W = self.params[2 * i]
            b = self.params[2 * i + 1]
            h = h @ W.t() + b
            if i < self.num_layers - 1:
                h = torch.clamp(h, min=0)
                if self.dropout > 0.0:
                    h = F.dropout(h, p=self.dropout, training=self.training)
        return h
