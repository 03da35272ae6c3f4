# expect: the advantage was clipped instead of the ratio
import torch


def gae(rewards, values, gamma=0.99, lam=0.95):
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(values[:, 0])
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
        next_value = values[:, t]
    return advantages, advantages + values


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask=None, clip_eps=0.2):
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    ratio = torch.exp(logprobs - old_logprobs)
    surr1 = ratio * advantages
    surr2 = ratio * torch.clamp(advantages, 1 - clip_eps, 1 + clip_eps)  # bug: clips A
    per = -torch.min(surr1, surr2)
    if mask is None:
        return per.mean()
    mask = mask.to(per.dtype)
    return (per * mask).sum() / mask.sum()
