# Written independently of this card's verifier, from the contract alone.
# Gumbel-max sampling: argmax(logits / T + G) with G = -log(-log U), U ~ Uniform(0, 1) drawn from
# `generator` (one uniform per vocabulary entry, in float32 on the logits' device). T == 0 is argmax.
# -inf logits stay -inf, so they are never drawn.
import torch


def sample(logits, temperature=1.0, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    z = logits.to(torch.float32) / temperature
    u = torch.rand(z.shape, generator=generator, device=z.device, dtype=torch.float32)
    tiny = torch.finfo(torch.float32).tiny
    g = -torch.log(-torch.log(u.clamp(min=tiny, max=1.0 - 1e-7)))
    return (z + g).argmax(dim=-1)
