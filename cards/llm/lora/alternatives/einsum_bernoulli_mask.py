"""Alternative: a hand-written inverted dropout (a Bernoulli keep-mask drawn with
torch.bernoulli, only while self.training), einsum for the two low-rank products, A from a
normal with std 1/r, and merge/unmerge with the weight's in-place add_."""

import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16, dropout=0.0):
        super().__init__()
        self.base = base.requires_grad_(False)
        out_features, in_features = base.weight.shape
        self.lora_A = nn.Parameter(torch.empty(r, in_features).normal_(std=1.0 / r))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        self.p = dropout
        self.merged = False

    def _dropout(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = torch.bernoulli(torch.full_like(x, 1.0 - self.p))
        return x * keep / (1.0 - self.p)

    def forward(self, x):
        out = self.base(x)
        if self.merged:
            return out
        h = torch.einsum("...i,ri->...r", self._dropout(x), self.lora_A)
        return out + self.scaling * torch.einsum("...r,or->...o", h, self.lora_B)

    def merge(self):
        self.base.weight.data.add_(self.scaling * self.lora_B.data @ self.lora_A.data)
        self.merged = True

    def unmerge(self):
        self.base.weight.data.sub_(self.scaling * self.lora_B.data @ self.lora_A.data)
        self.merged = False
