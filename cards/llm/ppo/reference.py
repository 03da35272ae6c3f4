"""PPO's generalised advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous
Control Using Generalized Advantage Estimation") and clipped surrogate loss (Schulman et al.
2017, "Proximal Policy Optimization Algorithms"), per token as in RLHF.

Left out: the value loss and its clipping, the entropy bonus, KL-penalised rewards, advantage
whitening, and masks inside GAE (padding is handled by the loss's mask).
"""

import torch


def gae(
    rewards: torch.Tensor, values: torch.Tensor, gamma: float = 0.99, lam: float = 0.95
):
    T = rewards.shape[1]
    advantages = torch.empty_like(rewards)  # (B, T)
    running = torch.zeros_like(rewards[:, 0])  # A_{t+1}, 0 after the last step
    next_value = torch.zeros_like(values[:, 0])  # V_T = 0: the episode ends
    # The subtlety: backwards in time. A_t sums the discounted TD errors of the future.
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # (B,)
        running = delta + gamma * lam * running
        advantages[:, t] = running
        next_value = values[:, t]
    return advantages, advantages + values


def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor | None = None,
    clip_eps: float = 0.2,
) -> torch.Tensor:
    if advantages.dim() == 1:
        # (B, 1): one advantage for every token of a row
        advantages = advantages[:, None]
    ratio = torch.exp(logprobs - old_logprobs)  # (B, T)
    unclipped = ratio * advantages
    # clip the ratio, not A
    clipped = ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages
    # pessimistic bound, then negate for a loss
    per_token = -torch.min(unclipped, clipped)
    if mask is None:
        return per_token.mean()
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum()  # mean over kept tokens only
