"""Computed with torch scalars in float64 (torch.cos, torch.pi) and returned as a float; the two
phases picked with torch.where instead of an if."""

import torch


def cosine_with_warmup(step, warmup_steps, total_steps, base_lr, min_lr=0.0):
    s = torch.tensor(float(step), dtype=torch.float64)
    w = torch.tensor(float(max(warmup_steps, 1)), dtype=torch.float64)
    span = torch.tensor(float(max(total_steps - warmup_steps, 1)), dtype=torch.float64)
    warm = base_lr * s / w
    progress = (s - warmup_steps) / span
    decay = min_lr + (base_lr - min_lr) * 0.5 * (1 + torch.cos(torch.pi * progress))
    return torch.where(s < warmup_steps, warm, decay).item()
