"""Complex-number RoPE (as in Meta's Llama code) but pairing x[j] with x[j + D/2] as HF does."""

import torch


def apply_rope(x, positions=None, base=10000.0):
    T, D = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    freqs = 1.0 / base ** (torch.arange(0, D // 2, device=x.device).float() * 2 / D)
    angles = torch.outer(positions.float(), freqs)
    rot = torch.polar(torch.ones_like(angles), angles)  # e^{i * angle}, (T, D/2)
    xf = x.float()
    z = torch.complex(xf[..., : D // 2].contiguous(), xf[..., D // 2 :].contiguous())
    z = z * rot
    return torch.cat((z.real, z.imag), dim=-1).to(x.dtype)
