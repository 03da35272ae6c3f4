"""INT8 quantisation: symmetric absmax and asymmetric zero-point (affine) quantisation, per
tensor or per channel, as in torch's quantize_per_tensor / quantize_per_channel (qint8) and
LLM.int8()'s absmax (Dettmers et al. 2022).

Left out: LLM.int8()'s outlier decomposition, observers / calibration, and integer matmuls.
"""

import torch


def _reduce(x: torch.Tensor, dim: int | None, op):
    """op (amax / amin) over everything but `dim`, dims kept so the result broadcasts."""
    if dim is None:
        return op(x)  # 0-dim: per tensor
    others = [d for d in range(x.dim()) if d != dim]
    return op(x, dim=others, keepdim=True) if others else x.clone()


def quantize_absmax(x: torch.Tensor, dim: int | None = None):
    scale = _reduce(x.abs(), dim, torch.amax) / 127
    q = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
    return q, scale


def quantize_zeropoint(x: torch.Tensor, dim: int | None = None):
    lo = _reduce(x, dim, torch.amin).clamp(max=0)  # include 0, as torch's observers do
    hi = _reduce(x, dim, torch.amax).clamp(min=0)
    scale = (hi - lo) / 255
    zero_point = torch.round(-128 - lo / scale).clamp(-128, 127).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(-128, 127).to(torch.int8)
    return q, scale, zero_point


def dequantize(
    q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor | None = None
) -> torch.Tensor:
    # The subtlety: leave int8 before subtracting, or q - zero_point wraps around.
    q = q.to(scale.dtype)
    if zero_point is not None:
        q = q - zero_point
    return q * scale
