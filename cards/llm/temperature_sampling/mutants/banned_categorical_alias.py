# expect: uses banned `torch.distributions`
import torch
import torch.distributions as D


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    return D.Categorical(logits=logits / temperature).sample()  # bug: dodge, a built-in sampler
