# expect: tied with the k-th largest logit were dropped
import torch


def top_k_filter(logits, k):
    V = logits.shape[-1]
    if k >= V:
        return logits.clone()
    sorted_logits = torch.sort(logits, dim=-1, descending=True).values
    first_out = sorted_logits[..., k : k + 1]  # the (k+1)-th largest: the first one dropped
    return logits.masked_fill(~(logits > first_out), float("-inf"))  # bug: drops its ties too


def sample_top_k(logits, k, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(top_k_filter(logits, k) / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
