# expect: scatter it back through the sort indices
import torch


def top_p_filter(logits, p, min_tokens_to_keep=1):
    sorted_logits, _ = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    keep_sorted = probs.cumsum(dim=-1) - probs < p
    keep_sorted[..., :min_tokens_to_keep] = True
    return logits.masked_fill(~keep_sorted, float("-inf"))  # bug: mask is in sorted order


def sample_top_p(logits, p, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(top_p_filter(logits / temperature, p), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
