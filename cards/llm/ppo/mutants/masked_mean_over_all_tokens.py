# expect: divides by every token, masked ones included
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
    per = -torch.min(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    if mask is not None:
        per = per * mask  # bug: zeroed, but the mean still counts the masked tokens
    return per.mean()
