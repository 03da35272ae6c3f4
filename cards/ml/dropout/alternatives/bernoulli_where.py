"""A Bernoulli(1 - p) mask from torch.bernoulli, survivors chosen with torch.where."""

import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        if not self.training:
            return x
        if self.p >= 1.0:
            return x * 0.0
        keep = torch.bernoulli(
            torch.full(x.shape, 1.0 - self.p, device=x.device)
        ).bool()
        return torch.where(keep, x / (1.0 - self.p), torch.zeros_like(x))
