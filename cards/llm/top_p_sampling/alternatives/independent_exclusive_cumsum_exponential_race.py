# Written independently of this card's verifier, from the contract alone.
# top-p by a descending sort and an *exclusive* cumulative sum: a token is kept while the mass of
# the tokens strictly before it is < p (so the one that crosses p is kept); the first
# min_tokens_to_keep sorted tokens are always kept. The mask is scattered back to vocabulary order.
# Sampling: an "exponential race" argmin(E_i / p_i), E_i ~ Exp(1) drawn from `generator`
# (equivalent to Gumbel-max). The temperature is applied before the filter; T == 0 is argmax.
import torch


def top_p_filter(logits, p, min_tokens_to_keep=1):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.to(torch.float32), dim=-1)
    before = probs.cumsum(-1) - probs  # mass strictly before each sorted token
    keep_sorted = before < p
    keep_sorted[..., :min_tokens_to_keep] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def sample_top_p(logits, p, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.to(torch.float32) / temperature
    filtered = top_p_filter(scaled, p)
    probs = torch.softmax(filtered, dim=-1)
    e = torch.empty(probs.shape, device=probs.device, dtype=torch.float32).exponential_(
        generator=generator
    )
    race = torch.where(probs > 0, e / probs, torch.full_like(e, float("inf")))
    return race.argmin(dim=-1)
