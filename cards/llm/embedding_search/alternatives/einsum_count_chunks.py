"""einsum for the masked sum, cosine as dot / (|q| |d|) broadcast, the number of chunks
computed up front with ceil division."""

import math

import torch


def mean_pool(last_hidden_state, attention_mask):
    m = attention_mask.to(last_hidden_state.dtype)
    total = torch.einsum("btd,bt->bd", last_hidden_state, m)
    return total / m.sum(dim=-1, keepdim=True)


def cosine_top_k(query, docs, k):
    dots = query @ docs.transpose(0, 1)
    norms = query.norm(dim=-1, keepdim=True) * docs.norm(dim=-1)
    return (dots / norms).topk(k, dim=-1, largest=True, sorted=True)


def chunk_text(text, chunk_size, overlap):
    if not (chunk_size >= 1 and 0 <= overlap < chunk_size):
        raise ValueError("need 0 <= overlap < chunk_size")
    if not text:
        return []
    step = chunk_size - overlap
    # chunk i covers [i*step, i*step + chunk_size); the last is the first one reaching len(text)
    n = 1 + max(0, math.ceil((len(text) - chunk_size) / step))
    return [text[i * step : i * step + chunk_size] for i in range(n)]
