# By the card's author (not written independently of the verifier): the multiplier on base_lr, floor
# as a fraction of base_lr, and the cosine via cos^2 (0.5 * (1 + cos x) = cos^2(x / 2)).
import math


def cosine_with_warmup(step, warmup_steps, total_steps, base_lr, min_lr=0.0):
    if warmup_steps > 0 and step < warmup_steps:
        return float(base_lr) * (float(step) / float(warmup_steps))
    decay_len = total_steps - warmup_steps
    progress = 0.0 if decay_len <= 0 else (step - warmup_steps) / decay_len
    progress = min(max(progress, 0.0), 1.0)
    floor = min_lr / base_lr if base_lr else 0.0
    mult = floor + (1.0 - floor) * math.cos(0.5 * math.pi * progress) ** 2
    return float(base_lr * mult)
