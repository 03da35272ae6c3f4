"""Linear warm-up then cosine decay to a floor, the LLM pre-training schedule, as transformers'
get_cosine_with_min_lr_schedule_with_warmup (min_lr given), returned as the lr itself."""

import math


def cosine_with_warmup(
    step: int, warmup_steps: int, total_steps: int, base_lr: float, min_lr: float = 0.0
) -> float:
    if step < warmup_steps:
        # Linear from 0 (not from min_lr): step 0 trains with lr 0, step warmup_steps with base_lr.
        return base_lr * step / warmup_steps
    # Progress restarts at 0 where warm-up ends, and reaches 1 at total_steps.
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
