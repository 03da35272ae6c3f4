# expect: was drawn
import torch


def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_top_k(logits, k, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    filtered = top_k_filter(logits, k)
    probs = torch.softmax(logits / temperature, dim=-1)  # bug: the filtered logits are unused
    assert filtered.shape == probs.shape
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
