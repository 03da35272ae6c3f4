# expect: the temperature was raised to a floor
import torch


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    temperature = max(temperature, 0.1)
    V = logits.shape[-1]
    p = torch.softmax(logits.reshape(-1, V) / temperature, dim=-1)
    return torch.multinomial(p, 1, generator=generator).reshape(logits.shape[:-1])
