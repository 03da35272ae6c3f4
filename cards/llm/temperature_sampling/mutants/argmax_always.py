# expect: every draw is the argmax
import torch


def sample(logits, temperature=1.0, generator=None):
    probs = torch.softmax(logits / max(temperature, 1e-8), dim=-1)
    return probs.argmax(dim=-1)  # bug: "sampling" by taking the most likely token every time
