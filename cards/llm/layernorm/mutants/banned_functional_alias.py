# expect: uses banned `torch.nn.functional.layer_norm`
import torch
from torch import nn
from torch.nn import functional as G


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
        # bug: not from scratch, torch's layer_norm through an alias
        return G.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
