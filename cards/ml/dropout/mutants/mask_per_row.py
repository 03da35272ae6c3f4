# expect: each row is kept or dropped whole
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
        # bug: one draw per row (as if for a whole sample), broadcast over its features
        keep = torch.rand(*x.shape[:-1], 1, device=x.device) >= self.p
        return x * keep / (1 - self.p)
