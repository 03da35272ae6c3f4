# expect: p was used as the probability of keeping
import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        keep = torch.bernoulli(torch.full_like(x, self.p))  # bug: keeps with probability p
        return x * keep / (1 - self.p)
