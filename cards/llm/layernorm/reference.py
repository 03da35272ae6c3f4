"""LayerNorm (Ba, Kiros & Hinton, 2016, "Layer Normalization"), as torch.nn.LayerNorm.

Left out: device/dtype factory arguments and fused kernels.
"""

import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
            self.bias = (
                nn.Parameter(torch.zeros(self.normalized_shape)) if bias else None
            )
        else:
            self.weight, self.bias = None, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The statistics cover all the trailing normalised dims together, not just the last one.
        dims = tuple(range(-len(self.normalized_shape), 0))
        # float32 at least: squares of large half-precision values overflow (float64 stays).
        x32 = x.to(torch.promote_types(x.dtype, torch.float32))
        mean = x32.mean(dim=dims, keepdim=True)
        centred = x32 - mean
        # biased: divide by n, not n - 1
        var = centred.pow(2).mean(dim=dims, keepdim=True)
        y = centred * torch.rsqrt(var + self.eps)  # eps under the square root
        if self.weight is not None:
            y = y * self.weight.to(x32.dtype)
        if self.bias is not None:
            y = y + self.bias.to(x32.dtype)
        return y.to(x.dtype)
