# expect: uses banned `trl`
import torch
from trl.trainer import ppo_trainer as P  # bug: not from scratch, TRL's PPO helpers


def gae(rewards, values, gamma=0.99, lam=0.95):
    return P.compute_gae(rewards, values, gamma, lam)


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask=None, clip_eps=0.2):
    if mask is None:
        mask = torch.ones_like(logprobs)
    return P.policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps)
