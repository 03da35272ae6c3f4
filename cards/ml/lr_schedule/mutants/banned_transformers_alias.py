# expect: uses banned `transformers.optimization`
from transformers import optimization as sched


def cosine_with_warmup(step, warmup_steps, total_steps, base_lr, min_lr=0.0):
    # bug: not from scratch, transformers' own lambda computes the multiplier
    factor = sched._get_cosine_schedule_with_warmup_lr_lambda(
        step,
        num_warmup_steps=warmup_steps,
        num_training_steps=total_steps,
        num_cycles=0.5,
        min_lr_rate=min_lr / base_lr,
    )
    return base_lr * factor
