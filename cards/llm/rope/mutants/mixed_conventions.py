# expect: frequencies are laid out (f0, f0, f1, f1
import torch


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, positions=None, base=10000.0):
    T, D = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    inv_freq = 1.0 / base ** (torch.arange(0, D, 2, device=x.device).float() / D)
    angles = positions.float()[:, None] * inv_freq
    # bug: frequencies laid out (f0, f0, f1, f1, ...) for interleaved pairs, but rotate_half pairs j with j + D/2
    angles = angles.repeat_interleave(2, dim=-1)
    xf = x.float()
    return (xf * angles.cos() + _rotate_half(xf) * angles.sin()).to(x.dtype)
