# Written independently of this card's verifier, from the contract alone.
# GRPO with explicit loops: group advantages computed group by group (unbiased std by hand), the
# loss accumulated sequence by sequence (masked token mean, then the mean over sequences).
# Per token: -(min(r A, clip(r) A) - beta * k3), k3 = exp(ref - lp) - (ref - lp) - 1.
import torch


def group_advantages(rewards, group_size, eps=1e-4):
    r = rewards.float() if not rewards.is_floating_point() else rewards
    out = torch.empty_like(r)
    G = group_size
    for start in range(0, r.shape[0], G):
        g = r[start : start + G]
        mu = g.sum() / G
        std = torch.sqrt(((g - mu) ** 2).sum() / (G - 1))
        out[start : start + G] = (g - mu) / (std + eps)
    return out


def grpo_loss(
    logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, beta=0.04
):
    B = logprobs.shape[0]
    total = logprobs.new_zeros(())
    for b in range(B):
        m = mask[b].to(logprobs.dtype)
        lp, old, ref, a = (
            logprobs[b],
            old_logprobs[b].detach(),
            ref_logprobs[b].detach(),
            advantages[b].detach(),
        )
        ratio = torch.exp(lp - old)
        surr = torch.minimum(
            ratio * a, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * a
        )
        d = ref - lp
        k3 = torch.exp(d) - d - 1
        per_tok = -(surr - beta * k3)
        total = total + (per_tok * m).sum() / m.sum()
    return total / B
