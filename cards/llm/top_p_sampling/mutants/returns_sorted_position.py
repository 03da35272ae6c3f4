# expect: position in sorted order, not the token id
import torch


def top_p_filter(logits, p, min_tokens_to_keep=1):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    keep_sorted = probs.cumsum(dim=-1) - probs < p
    keep_sorted[..., :min_tokens_to_keep] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def sample_top_p(logits, p, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    sorted_logits, order = torch.sort(logits / temperature, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    probs = probs.masked_fill(probs.cumsum(-1) - probs >= p, 0.0)
    flat = probs.reshape(-1, probs.shape[-1])
    pick = torch.multinomial(flat, 1, generator=generator)
    return pick.reshape(logits.shape[:-1])  # bug: never mapped back through `order`
