# expect: uses banned `transformers
import importlib

import torch

_lp = importlib.import_module("transformers.generation.logits_process")


def top_p_filter(logits, p, min_tokens_to_keep=1):
    V = logits.shape[-1]
    warper = getattr(_lp, "TopP" + "LogitsWarper")(top_p=p, min_tokens_to_keep=min_tokens_to_keep)
    return warper(None, logits.reshape(-1, V)).reshape(logits.shape)  # bug: dodge, HF's warper


def sample_top_p(logits, p, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(top_p_filter(logits / temperature, p), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
