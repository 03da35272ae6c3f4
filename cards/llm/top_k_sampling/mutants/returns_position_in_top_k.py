# expect: position within the top-k
import torch


def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_top_k(logits, k, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    values, indices = torch.topk(logits / temperature, min(k, logits.shape[-1]), dim=-1)
    probs = torch.softmax(values, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    choice = torch.multinomial(flat, 1, generator=generator)
    return choice.reshape(logits.shape[:-1])  # bug: never mapped back through `indices`
