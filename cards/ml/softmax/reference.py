"""Softmax along a dim, as torch.softmax(x, dim)."""

import torch


def softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    # float32 at least inside: half-precision sums of many small terms lose digits.
    x32 = x.to(torch.promote_types(x.dtype, torch.float32))
    # The trick: softmax(x) = softmax(x - c). With c the max of the slice every exponent is <= 0,
    # so nothing overflows and the largest term is exactly 1 (the sum never underflows to 0).
    # An all -inf slice has max -inf, and (-inf) - (-inf) = NaN: torch's answer, for free.
    shifted = x32 - x32.amax(dim=dim, keepdim=True)
    e = shifted.exp()  # -inf entries give exactly 0
    return (e / e.sum(dim=dim, keepdim=True)).to(x.dtype)
