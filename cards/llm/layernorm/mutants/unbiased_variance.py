# expect: the variance is the unbiased one
import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
            self.bias = nn.Parameter(torch.zeros(self.normalized_shape)) if bias else None
        else:
            self.weight, self.bias = None, None

    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        x32 = x.float()
        mean = x32.mean(dims, keepdim=True)
        var = x32.var(dims, keepdim=True)  # bug: torch.var is unbiased (n - 1) by default
        y = (x32 - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.float()
        if self.bias is not None:
            y = y + self.bias.float()
        return y.to(x.dtype)

