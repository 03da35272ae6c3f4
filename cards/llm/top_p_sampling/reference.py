"""Top-p (nucleus) sampling (Holtzman et al., 2020): sample from the smallest set of most likely
tokens whose probability mass reaches p.

Left out: combining with top-k, min-p and typical sampling, per-row p.
"""

import torch


def top_p_filter(
    logits: torch.Tensor, p: float, min_tokens_to_keep: int = 1
) -> torch.Tensor:
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    # The subtlety: compare the mass *before* each token with p, so the token that crosses p
    # stays (the kept mass reaches p); `cumsum < p` would drop it.
    before = probs.cumsum(dim=-1) - probs
    keep_sorted = before < p
    keep_sorted[..., :min_tokens_to_keep] = True
    # back to vocab order
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def sample_top_p(
    logits: torch.Tensor, p: float, temperature: float = 1.0, generator=None
) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(dim=-1)
    # temperature first, as in generate
    filtered = top_p_filter(logits / temperature, p)
    probs = torch.softmax(filtered.double(), dim=-1)
    draws = torch.multinomial(
        probs.reshape(-1, probs.shape[-1]), 1, generator=generator
    )
    return draws.reshape(logits.shape[:-1])
