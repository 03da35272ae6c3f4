# expect: uses banned `transformers
import torch
from transformers.generation import logits_process as lp


def top_k_filter(logits, k):
    V = logits.shape[-1]
    out = lp.TopKLogitsWarper(top_k=k)(None, logits.reshape(-1, V))  # bug: dodge, HF's warper
    return out.reshape(logits.shape)


def sample_top_k(logits, k, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(top_k_filter(logits, k) / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
