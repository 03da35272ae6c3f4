# expect: uses banned `trl`
import torch
import trl.trainer.grpo_trainer as G  # bug: not from scratch, TRL's GRPO trainer


def group_advantages(rewards, group_size, eps=1e-4):
    groups = rewards.view(-1, group_size)
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    return ((groups - mean) / (std + eps)).view(-1)


def grpo_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask, clip_eps=0.2, beta=0.04):
    return G.GRPOTrainer._compute_loss(logprobs, old_logprobs, ref_logprobs, advantages, mask)
