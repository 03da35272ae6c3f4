# expect: every position of the batch got the same token
import torch


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    cdf = probs.cumsum(dim=-1)
    # bug: one uniform shared by every position instead of one per position
    u = torch.rand(1, generator=generator, device=logits.device, dtype=torch.float64)
    u = u * cdf[..., -1:]
    return torch.searchsorted(cdf, u.expand(cdf.shape[:-1] + (1,)).contiguous()).squeeze(-1)
