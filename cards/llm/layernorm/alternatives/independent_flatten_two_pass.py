# Written independently of this card's verifier, from the contract alone.
# LayerNorm by flattening the normalised trailing dims into one axis, a two-pass mean/variance in
# float32 (biased variance, eps under the square root), cast back to the input dtype.
import math
import numbers

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
            if bias:
                self.bias = nn.Parameter(torch.zeros(self.normalized_shape))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        k = len(self.normalized_shape)
        assert tuple(x.shape[x.dim() - k :]) == self.normalized_shape
        lead = x.shape[: x.dim() - k]
        n = math.prod(self.normalized_shape)
        flat = x.reshape(*lead, n).to(torch.float32)
        mu = flat.sum(-1, keepdim=True) / n
        d = flat - mu
        var = (d * d).sum(-1, keepdim=True) / n
        y = (d / torch.sqrt(var + self.eps)).reshape(x.shape)
        if self.weight is not None:
            y = y * self.weight.to(torch.float32)
        if self.bias is not None:
            y = y + self.bias.to(torch.float32)
        return y.to(x.dtype)
