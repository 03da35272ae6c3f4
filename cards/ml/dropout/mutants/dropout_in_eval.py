# expect: the output must equal the input
import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 1:
            return torch.zeros_like(x)
        keep = torch.rand_like(x) >= self.p  # bug: self.training is never looked at
        return x * keep / (1 - self.p)
