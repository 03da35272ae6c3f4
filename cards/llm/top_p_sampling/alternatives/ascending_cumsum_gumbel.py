"""Ascending sort: drop the tokens whose cumulative mass from the bottom stays <= 1 - p (the
tail that the nucleus does not need); Gumbel-max over the survivors."""

import torch


def top_p_filter(logits, p, min_tokens_to_keep=1):
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    sorted_logits, idx = torch.sort(flat, dim=-1)  # ascending
    tail = torch.softmax(sorted_logits.double(), dim=-1).cumsum(dim=-1)
    remove = tail <= 1 - p
    if min_tokens_to_keep > 0:
        remove[:, max(V - min_tokens_to_keep, 0) :] = False
    remove = torch.empty_like(remove).scatter_(1, idx, remove)
    return torch.where(remove, torch.full_like(flat, float("-inf")), flat).reshape(
        logits.shape
    )


def sample_top_p(logits, p, temperature=1.0, generator=None):
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    z = top_p_filter(logits.double() / temperature, p)
    u = torch.rand(z.shape, generator=generator, device=z.device, dtype=torch.float64)
    gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
    return torch.argmax(z + gumbel, dim=-1)
