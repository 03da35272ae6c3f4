# expect: uses banned `torch.nn.functional.batch_norm`
import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape)) if (elementwise_affine and bias) else None

    def forward(self, x):
        k = len(self.normalized_shape)
        lead = x.shape[: x.dim() - k]
        n = 1
        for s in self.normalized_shape:
            n *= s
        h = x.float().reshape(-1, n).t()  # (n, M): batch_norm normalises per column over rows
        y = F.batch_norm(h, None, None, training=True, eps=self.eps).t()
        y = y.reshape(*lead, *self.normalized_shape)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y.to(x.dtype)
