"""Flatten the normalised dims into one, one-pass moments E[x²] - E[x]² in float64, and the
affine step in the input's dtype after the cast (as some hand-written kernels do)."""

import math

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = [normalized_shape]
        self.shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(*self.shape))
            if bias:
                self.bias = nn.Parameter(torch.zeros(*self.shape))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        n = math.prod(self.shape)
        lead = x.shape[: x.dim() - len(self.shape)]
        flat = x.reshape(*lead, n).double()
        m1 = flat.sum(-1, keepdim=True) / n
        m2 = (flat * flat).sum(-1, keepdim=True) / n
        y = (flat - m1) / torch.sqrt(m2 - m1 * m1 + self.eps)
        y = y.reshape(x.shape).to(x.dtype)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y
