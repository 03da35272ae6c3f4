# expect: the angles were computed in
import torch


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, positions=None, base=10000.0):
    T, D = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    # bug: position * frequency computed in x's half precision (bf16 keeps 8 bits: 1000 rad is off by ~2)
    inv_freq = (1.0 / base ** (torch.arange(0, D, 2, device=x.device).float() / D)).to(x.dtype)
    angles = positions.to(x.dtype)[:, None] * inv_freq
    angles = torch.cat((angles, angles), dim=-1)
    return x * angles.cos() + _rotate_half(x) * angles.sin()
