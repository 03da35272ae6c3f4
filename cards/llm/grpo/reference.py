"""GRPO (Shao et al. 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open
Language Models"): group-relative advantages (outcome supervision) and the per-token loss with
the k3 KL estimator (Schulman, "Approximating KL Divergence", 2020).

Left out: process supervision, Dr. GRPO / DAPO normalisations, and the sampling loop.
"""

import torch


def group_advantages(
    rewards: torch.Tensor, group_size: int, eps: float = 1e-4
) -> torch.Tensor:
    assert rewards.numel() % group_size == 0, "rewards must split into whole groups"
    groups = rewards.view(-1, group_size)  # (num_prompts, G): contiguous groups
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)  # unbiased (divides by G - 1)
    return ((groups - mean) / (std + eps)).view(-1)  # (num_prompts * G,)


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
) -> torch.Tensor:
    adv = advantages[:, None]  # (B, 1): one advantage for every token of a sequence
    ratio = torch.exp(logprobs - old_logprobs)  # (B, T)
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    # k3: unbiased, always >= 0, and lower variance than k1 = logp - ref.
    log_ratio_ref = ref_logprobs - logprobs
    kl = torch.exp(log_ratio_ref) - log_ratio_ref - 1
    per_token = -(surrogate - beta * kl)  # (B, T)
    mask = mask.to(per_token.dtype)
    # The subtlety: mean per sequence first, then over sequences (not one global token mean).
    per_sequence = (per_token * mask).sum(dim=1) / mask.sum(dim=1)  # (B,)
    return per_sequence.mean()
