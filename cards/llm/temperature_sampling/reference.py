"""Temperature sampling: one draw per position from softmax(logits / T); T = 0 is greedy.

Left out: top-k / top-p filtering (their own cards), repetition penalties and batched
per-row temperatures.
"""

import torch


def sample(
    logits: torch.Tensor, temperature: float = 1.0, generator=None
) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(dim=-1)  # greedy: no randomness at all
    # softmax subtracts the max, so logits + 1000 or a tiny temperature cannot overflow exp.
    probs = torch.softmax(logits.double() / temperature, dim=-1)  # (..., V)
    flat = probs.reshape(-1, probs.shape[-1])  # multinomial wants 1-D or 2-D
    draws = torch.multinomial(flat, num_samples=1, generator=generator)  # (rows, 1)
    return draws.reshape(logits.shape[:-1])
