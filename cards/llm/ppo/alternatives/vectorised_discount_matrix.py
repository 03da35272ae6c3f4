"""Alternative: GAE without a loop, as TD errors times an upper-triangular matrix of discount
powers; the loss as max of the negated surrogates, the mask applied with masked_select."""

import torch


def gae(rewards, values, gamma=0.99, lam=0.95):
    T = rewards.shape[-1]
    next_values = torch.nn.functional.pad(values[:, 1:], (0, 1))  # V_T = 0
    deltas = rewards + gamma * next_values - values  # (B, T)
    t = torch.arange(T, device=rewards.device)
    # (s, t) -> t - s... as (row s, col t)
    power = (t[None, :] - t[:, None]).to(rewards.dtype)
    # weights[t, s] = (gamma lam)^(s - t) for s >= t
    weights = torch.where(
        power >= 0, (gamma * lam) ** power.clamp(min=0), torch.zeros_like(power)
    )
    advantages = deltas @ weights.T  # A[b, t] = sum_s deltas[b, s] * weights[t, s]
    return advantages, advantages + values


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask=None, clip_eps=0.2):
    adv = advantages.unsqueeze(-1) if advantages.ndim == 1 else advantages
    adv = adv.expand_as(logprobs)
    ratio = (logprobs - old_logprobs).exp()
    losses = torch.maximum(
        -adv * ratio, -adv * torch.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    )
    if mask is None:
        return losses.mean()
    return torch.masked_select(losses, mask.bool()).mean()
