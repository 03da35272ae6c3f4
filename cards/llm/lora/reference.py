"""LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models") on one linear
layer, in the layout of Hugging Face PEFT: lora_A (r, in) random, lora_B (out, r) zeros.

Left out: several adapters per layer, rank-stabilised scaling (rsLoRA), DoRA, merging into a
quantised base, and fan_in_fan_out (Conv1D) layers.
"""

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(
        self, base: nn.Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0
    ):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(
            torch.empty(r, base.in_features, device=w.device, dtype=w.dtype)
        )
        # The subtlety: B starts at zero, so the layer equals the base at init, while A is
        # random, so the gradient of B (which goes through A x) is not zero and training starts.
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, device=w.device, dtype=w.dtype)
        )
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)  # identity in eval mode
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)  # the base sees x itself, never the dropped-out input
        if not self.merged:
            out = out + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling
        return out

    def merge(self) -> None:
        # an in-place update of a frozen weight, not part of any graph
        with torch.no_grad():
            self.base.weight += (self.lora_B @ self.lora_A) * self.scaling
        self.merged = True

    def unmerge(self) -> None:
        with torch.no_grad():
            self.base.weight -= (self.lora_B @ self.lora_A) * self.scaling
        self.merged = False
