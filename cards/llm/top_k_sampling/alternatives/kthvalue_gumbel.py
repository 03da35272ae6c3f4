"""kthvalue for the threshold (the (V-k+1)-th smallest is the k-th largest), Gumbel-max to sample."""

import torch


def top_k_filter(logits, k):
    V = logits.shape[-1]
    if k >= V:
        return logits.clone()
    kth = torch.kthvalue(logits.float(), V - k + 1, dim=-1, keepdim=True).values
    return torch.where(
        logits.float() >= kth, logits, torch.full_like(logits, -float("inf"))
    )


def sample_top_k(logits, k, temperature=1.0, generator=None):
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    z = top_k_filter(logits, k).double() / temperature  # -inf stays -inf
    u = torch.rand(z.shape, generator=generator, device=z.device, dtype=torch.float64)
    gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
    return torch.argmax(z + gumbel, dim=-1)
