# By the card's author.
# Uniform draws in float32, keep where u < 1 - p, dropped entries filled with 0 by masked_fill,
# then one multiply by the precomputed scale.
import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError("p must be in [0, 1]")
        self.p = p

    def forward(self, x):
        if (not self.training) or self.p == 0:
            return x
        u = torch.rand(x.shape, dtype=torch.float32, device=x.device)
        keep = u < (1.0 - self.p)
        scale = 1.0 / (1.0 - self.p) if self.p < 1 else 0.0
        return x.masked_fill(~keep, 0) * scale
