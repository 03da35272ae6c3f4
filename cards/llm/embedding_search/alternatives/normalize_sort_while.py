"""F.normalize and a descending sort; masked_fill before summing; a while loop for chunks;
float32 accumulation for half-precision states (float64 stays float64)."""

import torch
import torch.nn.functional as F


def mean_pool(last_hidden_state, attention_mask):
    keep = attention_mask.bool().unsqueeze(-1)
    acc = torch.promote_types(last_hidden_state.dtype, torch.float32)
    h = last_hidden_state.to(acc).masked_fill(~keep, 0.0)
    n = keep.sum(dim=1).to(acc)
    return (h.sum(dim=1) / n).to(last_hidden_state.dtype)


def cosine_top_k(query, docs, k):
    single = query.dim() == 1
    q = F.normalize(query.reshape(-1, query.shape[-1]), dim=-1)
    d = F.normalize(docs, dim=-1)
    sims = torch.mm(q, d.t())
    vals, idx = torch.sort(sims, dim=1, descending=True)
    vals, idx = vals[:, :k], idx[:, :k]
    if single:
        return vals[0], idx[0]
    return vals, idx


def chunk_text(text, chunk_size, overlap):
    if chunk_size <= 0 or overlap < 0 or overlap >= chunk_size:
        raise ValueError(f"bad chunk_size={chunk_size} / overlap={overlap}")
    pieces = []
    start = 0
    while start < len(text):
        end = start + chunk_size
        pieces.append(text[start:end])
        if end >= len(text):
            break
        start = end - overlap
    return pieces
