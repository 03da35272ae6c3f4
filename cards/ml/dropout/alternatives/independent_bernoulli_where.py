# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout: the keep mask is drawn with Tensor.bernoulli_ from
    torch's default generator for the input's device (one independent draw
    per element, a fresh one per call), and kept entries are x / (1 - p)."""

    def __init__(self, p=0.5):
        super().__init__()
        p = float(p)
        if p < 0.0 or p > 1.0:
            raise ValueError(
                f"dropout probability has to be between 0 and 1, but got {p}"
            )
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        keep_prob = 1.0 - self.p
        keep = torch.empty(x.shape, dtype=torch.float32, device=x.device).bernoulli_(
            keep_prob
        )
        return torch.where(
            keep.bool(), x / keep_prob, torch.zeros((), dtype=x.dtype, device=x.device)
        )

    def extra_repr(self):
        return f"p={self.p}"
