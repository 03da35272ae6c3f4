# expect: not split in halves (rotate_half)
import torch


def apply_rope(x, positions=None, base=10000.0):
    # bug: GPT-J / complex-pair convention (x[2j], x[2j+1]) instead of HF's half split (x[j], x[j+D/2])
    T, D = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    inv_freq = 1.0 / base ** (torch.arange(0, D, 2, device=x.device).float() / D)
    angles = positions.float()[:, None] * inv_freq  # (T, D/2)
    cos, sin = angles.cos(), angles.sin()
    xf = x.float()
    x_even, x_odd = xf[..., 0::2], xf[..., 1::2]
    out = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)
