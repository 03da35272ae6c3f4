"""Row by row: sort descending, keep everything >= the k-th value, then inverse-CDF sampling over
the kept tokens only (so a filtered token can never be picked)."""

import torch


def top_k_filter(logits, k):
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    out = torch.full_like(flat, float("-inf"))
    for r in range(flat.shape[0]):
        row = flat[r]
        kth = torch.sort(row, descending=True).values[min(k, V) - 1]
        keep = row >= kth
        out[r][keep] = row[keep]
    return out.reshape(logits.shape)


def sample_top_k(logits, k, temperature=1.0, generator=None):
    V = logits.shape[-1]
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    flat = top_k_filter(logits, k).reshape(-1, V).double() / temperature
    probs = torch.softmax(flat, dim=-1)
    kept = probs > 0
    cdf = torch.cumsum(probs, dim=-1)
    u = torch.rand(flat.shape[0], 1, generator=generator, device=flat.device)
    u = u.double() * cdf[:, -1:]
    # first kept token whose cumulative probability exceeds u
    candidates = (cdf > u) & kept
    idx = torch.argmax(candidates.to(torch.int8), dim=-1)
    return idx.reshape(logits.shape[:-1])
