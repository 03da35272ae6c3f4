# Written independently of this card's verifier, from the contract alone.
# top-k threshold from torch.kthvalue (the (V-k+1)-th smallest is the k-th largest); everything below
# it becomes -inf, ties with it are kept. Sampling by inverse CDF: one uniform per row from
# `generator`, searchsorted into the cumulative probabilities. T == 0 is argmax.
import torch


def top_k_filter(logits, k):
    V = logits.shape[-1]
    k = min(int(k), V)
    if k >= V:
        return logits.clone()  # k >= vocabulary keeps every token
    kth = torch.kthvalue(logits, V - k + 1, dim=-1, keepdim=True).values
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_top_k(logits, k, temperature=1.0, generator=None):
    filtered = top_k_filter(logits, k)
    if temperature == 0:
        return filtered.argmax(dim=-1)
    z = filtered.to(torch.float32) / temperature
    probs = torch.softmax(z, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    cdf = flat.cumsum(-1)
    u = (
        torch.rand(flat.shape[0], 1, generator=generator, device=flat.device)
        * cdf[:, -1:]
    )
    idx = torch.searchsorted(cdf, u, right=True).clamp(max=flat.shape[-1] - 1)
    # guard against landing on a zero-probability entry through rounding at the top end
    idx = torch.where(flat.gather(1, idx) > 0, idx, flat.argmax(-1, keepdim=True))
    return idx.reshape(logits.shape[:-1])
