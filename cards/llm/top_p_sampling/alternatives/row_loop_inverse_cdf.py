"""Row by row with Python numbers: walk the tokens from the most likely, stop once the mass
collected reaches p; sample by inverse CDF over the kept tokens."""

import torch


def top_p_filter(logits, p, min_tokens_to_keep=1):
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    out = torch.full_like(flat, float("-inf"))
    probs = torch.softmax(flat.double(), dim=-1)
    order = torch.argsort(flat, dim=-1, descending=True).tolist()
    probs = probs.tolist()
    for r in range(flat.shape[0]):
        mass = 0.0
        for rank, t in enumerate(order[r]):
            if mass >= p and rank >= min_tokens_to_keep:
                break
            out[r, t] = flat[r, t]
            mass += probs[r][t]
    return out.reshape(logits.shape)


def sample_top_p(logits, p, temperature=1.0, generator=None):
    V = logits.shape[-1]
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.double() / temperature
    sorted_z, order = torch.sort(scaled.reshape(-1, V), dim=-1, descending=True)
    probs = torch.softmax(sorted_z, dim=-1)
    before = probs.cumsum(-1) - probs
    probs = torch.where(before < p, probs, torch.zeros_like(probs))
    cdf = probs.cumsum(-1)
    u = torch.rand(
        cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=torch.float64
    )
    pos = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=V - 1)
    # a kept token always sits before a dropped one in sorted order, so pos is a kept rank
    return order.gather(-1, pos).reshape(logits.shape[:-1])
