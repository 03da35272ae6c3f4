"""Alternative: GAE collected in a Python list while walking backwards, then reversed and
stacked; the clipped objective written with torch.where on the sign of the advantage."""

import torch


def gae(rewards, values, gamma=0.99, lam=0.95):
    T = rewards.size(1)
    out = []
    last_gae = 0.0
    for t in range(T - 1, -1, -1):
        next_v = values[:, t + 1] if t + 1 < T else 0.0
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last_gae = delta + gamma * lam * last_gae
        out.append(last_gae)
    advantages = torch.stack(out[::-1], dim=1)
    returns = advantages + values
    return advantages, returns


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask=None, clip_eps=0.2):
    if advantages.dim() == 1:
        advantages = advantages.view(-1, 1)
    ratio = torch.exp(logprobs - old_logprobs)
    # A >= 0: the objective is min(ratio, 1 + eps) * A; A < 0: max(ratio, 1 - eps) * A
    bounded = torch.where(
        advantages >= 0,
        torch.clamp(ratio, max=1 + clip_eps),
        torch.clamp(ratio, min=1 - clip_eps),
    )
    objective = bounded * advantages
    if mask is None:
        mask = torch.ones_like(objective)
    mask = mask.float().to(objective.dtype)
    return -(objective * mask).sum() / mask.sum()
