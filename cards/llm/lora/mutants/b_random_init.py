# expect: lora_B must start at zero
import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16, dropout=0.0):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.empty(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))  # bug: B random, not zeros
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)
        self.merged = False

    def forward(self, x):
        out = self.base(x)
        if not self.merged:
            out = out + self.dropout(x) @ self.lora_A.T @ self.lora_B.T * self.scaling
        return out

    def merge(self):
        with torch.no_grad():
            self.base.weight += self.lora_B @ self.lora_A * self.scaling
        self.merged = True

    def unmerge(self):
        with torch.no_grad():
            self.base.weight -= self.lora_B @ self.lora_A * self.scaling
        self.merged = False
