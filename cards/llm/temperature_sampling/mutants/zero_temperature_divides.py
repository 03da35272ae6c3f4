# expect: temperature 0 must return the argmax
import torch


def sample(logits, temperature=1.0, generator=None):
    probs = torch.softmax(logits / temperature, dim=-1)  # bug: no special case for T = 0
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
