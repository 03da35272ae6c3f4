# expect: modified in place
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
            return x.zero_()
        keep = torch.rand_like(x) >= self.p
        return x.mul_(keep).div_(1 - self.p)  # bug: overwrites the caller's tensor
