# Written independently of this card's verifier, from the contract alone.
# LoRA with the paper's Gaussian init for A (std 1/r) and zeros for B, the LoRA path written with
# F.linear and F.dropout (dropout on the LoRA input only), and a `merged` flag: after merge() the
# forward is just the (merged) base layer; unmerge() subtracts the same delta back.
import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, alpha=16, dropout=0.0):
        super().__init__()
        self.base = base
        for prm in self.base.parameters():
            prm.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        self.dropout_p = dropout
        w = base.weight
        self.lora_A = nn.Parameter(
            torch.randn(r, base.in_features, device=w.device, dtype=w.dtype) / r
        )
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, device=w.device, dtype=w.dtype)
        )
        self.merged = False

    def _delta(self):
        return (self.lora_B @ self.lora_A) * self.scaling  # (out, in)

    @torch.no_grad()
    def merge(self):
        if not self.merged:
            self.base.weight += self._delta().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if self.merged:
            self.base.weight -= self._delta().to(self.base.weight.dtype)
            self.merged = False

    def forward(self, x):
        y = self.base(x)
        if self.merged:
            return y
        h = F.dropout(x, p=self.dropout_p, training=self.training)
        return y + F.linear(F.linear(h, self.lora_A), self.lora_B) * self.scaling
