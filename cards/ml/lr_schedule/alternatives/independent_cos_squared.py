# Written from the contract alone, by a writer who had not read this card's verifier.
import math


def cosine_with_warmup(step, warmup_steps, total_steps, base_lr, min_lr=0.0):
    """Linear warm-up from 0, then cosine decay written as cos^2(pi * progress / 2),
    which equals 0.5 * (1 + cos(pi * progress))."""
    step = float(step)
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    span = max(1, total_steps - warmup_steps)
    progress = (step - warmup_steps) / span
    weight = math.cos(0.5 * math.pi * progress) ** 2
    return float(min_lr + (base_lr - min_lr) * weight)
