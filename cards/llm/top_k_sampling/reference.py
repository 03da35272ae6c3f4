"""Top-k sampling (Fan et al., 2018): keep the k largest logits, sample from their softmax.

Left out: min_tokens_to_keep, per-row k and combining with top-p (its own card).
"""

import torch


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, logits.shape[-1])  # a k beyond the vocabulary keeps every token
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest
    # `<` (not `<=`): tokens tied with the k-th value stay, as in transformers' TopKLogitsWarper.
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_top_k(
    logits: torch.Tensor, k: int, temperature: float = 1.0, generator=None
) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(dim=-1)
    # T > 0 keeps the order: same top k
    filtered = top_k_filter(logits / temperature, k)
    # filtered tokens get probability 0
    probs = torch.softmax(filtered.double(), dim=-1)
    draws = torch.multinomial(
        probs.reshape(-1, probs.shape[-1]), 1, generator=generator
    )
    return draws.reshape(logits.shape[:-1])
