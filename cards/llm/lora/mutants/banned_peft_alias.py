# expect: uses banned `peft`
import peft.tuners.lora as lora_impl  # bug: dodge, PEFT's LoRA layer under another name
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16, dropout=0.0):
        super().__init__()
        self.inner = lora_impl.Linear(base, "default", r=r, lora_alpha=alpha, lora_dropout=dropout)
        self.base = base
        self.lora_A = self.inner.lora_A["default"].weight
        self.lora_B = self.inner.lora_B["default"].weight

    def forward(self, x):
        return self.inner(x)

    def merge(self):
        self.inner.merge()

    def unmerge(self):
        self.inner.unmerge()
