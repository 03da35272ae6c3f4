"""Mutant (dodge): torch's cosine_similarity through an aliased functional module."""
# expect: uses banned `torch.nn.functional.cosine_similarity`

import torch
import torch.nn.functional as G


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(1) / mask.sum(1)


def cosine_top_k(query, docs, k):
    q = query.unsqueeze(-2)  # (..., 1, D) against (N, D)
    return torch.topk(G.cosine_similarity(q, docs, dim=-1), k, dim=-1)


def chunk_text(text, chunk_size, overlap):
    if not 0 <= overlap < chunk_size:
        raise ValueError("overlap")
    out, start = [], 0
    while start < len(text):
        out.append(text[start : start + chunk_size])
        if start + chunk_size >= len(text):
            break
        start += chunk_size - overlap
    return out
