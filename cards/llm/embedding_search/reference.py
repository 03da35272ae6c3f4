"""The three pieces of a dense-retrieval (RAG) pipeline: split documents into overlapping
character chunks, pool a sentence encoder's token states into one embedding per text (as
sentence-transformers' mean pooling does), and rank documents by cosine similarity.

Left out: tokenisation, the encoder itself, approximate nearest-neighbour indexes.
"""

import torch


def mean_pool(
    last_hidden_state: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    # (B, T, D) and (B, T) -> (B, D): padding positions must not count in the sum or the count.
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)  # (B, T, 1)
    summed = (last_hidden_state * mask).sum(dim=1)  # (B, D)
    counts = mask.sum(dim=1).clamp(min=1)  # (B, 1): real tokens per row
    return summed / counts


def cosine_top_k(
    query: torch.Tensor, docs: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    # query (D,) or (Q, D); docs (N, D). Normalise both sides, then one matrix product.
    q = query / query.norm(dim=-1, keepdim=True)
    d = docs / docs.norm(dim=-1, keepdim=True)
    scores = q @ d.T  # (N,) or (Q, N)
    return torch.topk(scores, k, dim=-1)  # sorted, highest first


def chunk_text(text: str, chunk_size: int, overlap: int) -> list[str]:
    if chunk_size < 1 or not 0 <= overlap < chunk_size:
        raise ValueError("need chunk_size >= 1 and 0 <= overlap < chunk_size")
    step = chunk_size - overlap
    chunks = []
    for start in range(0, len(text), step):
        chunks.append(text[start : start + chunk_size])
        if start + chunk_size >= len(text):  # this chunk reaches the end: stop here
            break
    return chunks
