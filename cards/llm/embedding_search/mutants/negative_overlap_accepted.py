# expect: overlap must be 0 <= overlap < chunk_size
import torch
import torch.nn.functional as F


def mean_pool(last_hidden_state, attention_mask):
    m = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * m).sum(1) / m.sum(1)


def cosine_top_k(query, docs, k):
    s = F.normalize(query, dim=-1) @ F.normalize(docs, dim=-1).T
    return torch.topk(s, k, dim=-1)


def chunk_text(text, chunk_size, overlap):
    if overlap >= chunk_size:
        raise ValueError
    step, out = chunk_size - overlap, []
    for i in range(0, len(text), step):
        out.append(text[i:i + chunk_size])
        if i + chunk_size >= len(text):
            break
    return out
