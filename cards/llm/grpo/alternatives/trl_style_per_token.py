"""Alternative in TRL's style: per-token loss as max of the negated clipped terms, the k3 KL as
exp(ref - logp) - (ref - logp) - 1 added with beta, the per-sequence mean clamped against empty
rows; the advantages with unsqueeze and torch.std_mean."""

import torch


def group_advantages(rewards, group_size, eps=1e-4):
    grouped = rewards.reshape(-1, group_size)
    std, mean = torch.std_mean(grouped, dim=-1, keepdim=True, correction=1)
    mean = mean.expand_as(grouped).flatten()
    std = std.expand_as(grouped).flatten()
    return (rewards - mean) / (std + eps)


def grpo_loss(
    logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, beta=0.04
):
    coef_1 = torch.exp(logprobs - old_logprobs)
    coef_2 = torch.clamp(coef_1, 1 - clip_eps, 1 + clip_eps)
    adv = advantages.unsqueeze(1)
    per_token_loss = torch.max(-coef_1 * adv, -coef_2 * adv)
    per_token_kl = torch.exp(ref_logprobs - logprobs) - (ref_logprobs - logprobs) - 1
    per_token_loss = per_token_loss + beta * per_token_kl
    m = mask.float().to(logprobs.dtype)
    return ((per_token_loss * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
