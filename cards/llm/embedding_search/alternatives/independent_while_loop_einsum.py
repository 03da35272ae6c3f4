# Written independently of this card's verifier, from the contract alone.
# mean_pool with an einsum over the mask (count clamped at 1e-9, as sentence-transformers does);
# cosine_top_k by normalising with rsqrt and sorting the whole score row (no torch.topk), works for
# one query (D,) -> (k,) or a batch (Q, D) -> (Q, k); chunk_text with a while loop that stops at
# the first chunk reaching the end of the text.
import torch


def mean_pool(last_hidden_state, attention_mask):
    m = attention_mask.to(last_hidden_state.dtype)
    summed = torch.einsum("bth,bt->bh", last_hidden_state, m)
    count = m.sum(dim=1, keepdim=True).clamp(min=1e-9)
    return summed / count


def cosine_top_k(query, docs, k):
    single = query.dim() == 1
    q = query.unsqueeze(0) if single else query
    qn = q * torch.rsqrt((q * q).sum(-1, keepdim=True).clamp(min=1e-24))
    dn = docs * torch.rsqrt((docs * docs).sum(-1, keepdim=True).clamp(min=1e-24))
    sims = qn @ dn.T  # (Q, N)
    k = min(k, docs.shape[0])
    order = torch.sort(sims, dim=-1, descending=True, stable=True).indices[:, :k]
    scores = sims.gather(1, order)
    if single:
        return scores[0], order[0]
    return scores, order


def chunk_text(text, chunk_size, overlap):
    if not 0 <= overlap < chunk_size:  # the card asks for ValueError here
        raise ValueError("need 0 <= overlap < chunk_size")
    step = chunk_size - overlap
    chunks, start = [], 0
    while start < len(text):
        chunks.append(text[start : start + chunk_size])
        if start + chunk_size >= len(text):
            break
        start += step
    return chunks
