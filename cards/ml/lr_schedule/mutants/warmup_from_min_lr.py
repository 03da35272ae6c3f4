# expect: the warm-up started from min_lr
import math


def cosine_with_warmup(step, warmup_steps, total_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return min_lr + (base_lr - min_lr) * step / warmup_steps  # bug: starts at min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
