"""Inverse CDF: one uniform per position, the first token whose cumulative probability reaches it."""

import torch
import torch.nn.functional as F


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.max(dim=-1).indices
    scaled = logits.float() / temperature
    probs = F.softmax(scaled - scaled.amax(dim=-1, keepdim=True), dim=-1)
    cdf = torch.cumsum(probs, dim=-1)
    # scale by the total, so rounding never pushes u past the end
    u = (
        torch.rand(logits.shape[:-1] + (1,), generator=generator, device=logits.device)
        * cdf[..., -1:]
    )
    idx = torch.searchsorted(cdf, u, right=True).squeeze(-1)
    return idx.clamp(max=logits.shape[-1] - 1)
