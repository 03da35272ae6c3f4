"""torch.var_mean with correction=0 over the normalised dims, parameters applied by addcmul."""

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, int)
            else normalized_shape
        )
        self.normalized_shape = tuple(shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(shape)) if elementwise_affine else None
        self.bias = (
            nn.Parameter(torch.zeros(shape)) if elementwise_affine and bias else None
        )

    def forward(self, x):
        dims = [-(i + 1) for i in range(len(self.normalized_shape))]
        xf = x.to(torch.float32)
        var, mean = torch.var_mean(xf, dim=dims, correction=0, keepdim=True)
        y = (xf - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            b = (
                self.bias.float()
                if self.bias is not None
                else torch.zeros_like(self.weight, dtype=torch.float32)
            )
            y = torch.addcmul(b, y, self.weight.float())
        return y.type_as(x)
