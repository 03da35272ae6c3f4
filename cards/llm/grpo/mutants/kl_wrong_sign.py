# expect: the KL penalty has the wrong sign
import torch


def group_advantages(rewards, group_size, eps=1e-4):
    groups = rewards.view(-1, group_size)
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    return ((groups - mean) / (std + eps)).view(-1)


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, beta=0.04):
    adv = advantages[:, None]
    ratio = torch.exp(logprobs - old_logprobs)
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    d = ref_logprobs - logprobs
    kl = torch.exp(d) - d - 1
    per_token = -(surrogate + beta * kl)  # bug: rewards the KL instead of penalising it
    mask = mask.to(per_token.dtype)
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()
