# expect: draw from torch's default generator
import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

        self.gen = torch.Generator().manual_seed(0)  # bug: its own generator, fixed seed

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        u = torch.rand(x.shape, generator=self.gen).to(x.device)
        return x * (u >= self.p) / (1 - self.p)
