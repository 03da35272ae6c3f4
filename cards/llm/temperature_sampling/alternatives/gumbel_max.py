"""Gumbel-max: argmax(logits / T + G) with G = -log(-log U) is a draw from softmax(logits / T)."""

import torch


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    u = torch.rand(
        logits.shape, generator=generator, device=logits.device, dtype=torch.float64
    )
    u = u.clamp_min(torch.finfo(torch.float64).tiny)  # log(0) guard
    gumbel = -torch.log(-torch.log(u))
    return torch.argmax(logits.double() / temperature + gumbel, dim=-1)
