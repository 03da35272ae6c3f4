# expect: progress was counted from step 0
import math


def cosine_with_warmup(step, warmup_steps, total_steps, base_lr, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    progress = step / total_steps  # bug: the decay does not restart where warm-up ends
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
