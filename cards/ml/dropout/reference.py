"""Inverted dropout (Srivastava et al., 2014), as torch.nn.Dropout: in training each element is
zeroed with probability p and the survivors are scaled by 1 / (1 - p), so the expected output
equals the input and eval mode is the identity."""

import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        # One uniform draw per element from torch's default generator (float32, even for half
        # inputs), a fresh one at every call. keep has probability 1 - p.
        keep = torch.rand(x.shape, device=x.device) >= self.p
        # p = 1: every element dropped; scale 0 instead of 1 / 0 (0 * inf would give NaN).
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        return x * keep * scale
