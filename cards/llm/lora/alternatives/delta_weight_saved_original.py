"""Alternative: the update as a delta weight through F.linear, A drawn from a small normal
(randn * 0.01, as many tutorials do), dropout as nn.Identity when p is 0, and unmerge()
restoring a saved copy of the original weight instead of subtracting."""

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    def __init__(
        self, base: nn.Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0
    ):
        super().__init__()
        base.weight.requires_grad = False
        if base.bias is not None:
            base.bias.requires_grad = False
        self.base = base
        self.r, self.alpha = r, alpha
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * 0.01)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.drop = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self._saved = None

    def _delta(self):
        return (self.alpha / self.r) * (self.lora_B @ self.lora_A)  # (out, in)

    def forward(self, x):
        y = F.linear(x, self.base.weight, self.base.bias)
        if self._saved is None:
            y = y + F.linear(self.drop(x), self._delta())
        return y

    @torch.no_grad()
    def merge(self):
        self._saved = self.base.weight.detach().clone()
        self.base.weight.copy_(self._saved + self._delta())

    @torch.no_grad()
    def unmerge(self):
        self.base.weight.copy_(self._saved)
        self._saved = None
