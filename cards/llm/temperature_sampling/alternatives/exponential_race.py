"""Exponential race: with E_i ~ Exp(1), argmin(E_i / p_i) picks token i with probability p_i."""

import torch


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    z = logits.double() / temperature
    weights = torch.exp(z - z.max(dim=-1, keepdim=True).values)  # p_i up to a constant
    e = torch.empty_like(weights).exponential_(1.0, generator=generator)
    return torch.argmin(e / weights, dim=-1)
