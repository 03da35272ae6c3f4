"""Rotary position embedding, RoPE (Su et al., 2021, "RoFormer"), in the half-split convention of
Hugging Face Llama (`rotate_half`): feature j is paired with feature j + D/2.

Left out: applying it to q and k inside attention, cos/sin caching across calls, scaled variants
(linear, NTK, YaRN, Llama 3) and partial rotary dimensions.
"""

import torch


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)  # (..., T, D/2) each
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(
    x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10000.0
) -> torch.Tensor:
    T, D = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    # One frequency per pair: base^(-2j/D) for j = 0 .. D/2-1.
    # (D/2,)
    inv_freq = 1.0 / (
        base ** (torch.arange(0, D, 2, device=x.device, dtype=torch.float32) / D)
    )
    # The subtlety: angles and their cos/sin in float32 even for half inputs (a bf16 angle at
    # position 1000 is off by radians), and the half-split layout: pair j is (x[j], x[j + D/2]),
    # so each frequency appears twice, once in each half.
    # (T, D/2)
    angles = positions.to(device=x.device, dtype=torch.float32)[:, None] * inv_freq
    angles = torch.cat((angles, angles), dim=-1)  # (T, D)
    cos, sin = angles.cos(), angles.sin()
    out = x.float() * cos + _rotate_half(x.float()) * sin  # (..., T, D)
    return out.to(x.dtype)
