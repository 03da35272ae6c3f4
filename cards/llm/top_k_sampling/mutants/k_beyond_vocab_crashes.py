# expect: larger than the vocabulary
import torch


def top_k_filter(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # bug: k > V raises
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_top_k(logits, k, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(top_k_filter(logits, min(k, logits.shape[-1])) / temperature, -1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
