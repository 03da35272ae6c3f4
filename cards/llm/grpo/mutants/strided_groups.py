# expect: groups were taken strided
import torch


def group_advantages(rewards, group_size, eps=1e-4):
    num_prompts = rewards.numel() // group_size
    out = torch.empty_like(rewards)
    for p in range(num_prompts):
        idx = torch.arange(p, rewards.numel(), num_prompts)  # bug: every num_prompts-th reward
        group = rewards[idx]
        out[idx] = (group - group.mean()) / (group.std() + eps)
    return out


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, beta=0.04):
    adv = advantages[:, None]
    ratio = torch.exp(logprobs - old_logprobs)
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    d = ref_logprobs - logprobs
    kl = torch.exp(d) - d - 1
    per_token = -(surrogate - beta * kl)
    mask = mask.to(per_token.dtype)
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()

