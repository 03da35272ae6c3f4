"""Alternative: explicit loops, one group and one sequence at a time, the unbiased std written
out by hand, and the k3 KL as ratio_ref - log(ratio_ref) - 1."""

import torch


def group_advantages(rewards, group_size, eps=1e-4):
    out = []
    for start in range(0, rewards.shape[0], group_size):
        g = rewards[start : start + group_size]
        mu = g.sum() / group_size
        sd = (((g - mu) ** 2).sum() / (group_size - 1)).sqrt()
        out.append((g - mu) / (sd + eps))
    return torch.cat(out)


def grpo_loss(
    logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, beta=0.04
):
    total = 0.0
    B = logprobs.shape[0]
    for b in range(B):
        keep = mask[b].bool()
        lp, old, ref = logprobs[b][keep], old_logprobs[b][keep], ref_logprobs[b][keep]
        a = advantages[b]
        ratio = (lp - old).exp()
        clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
        obj = torch.minimum(ratio * a, clipped * a)
        ratio_ref = (ref - lp).exp()
        kl = ratio_ref - torch.log(ratio_ref) - 1
        total = total + (-(obj - beta * kl)).mean()
    return total / B
