# expect: exp of large logits overflowed
import torch


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    e = torch.exp(logits / temperature)  # bug: no max subtracted, exp overflows to inf
    probs = e / e.sum(dim=-1, keepdim=True)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
