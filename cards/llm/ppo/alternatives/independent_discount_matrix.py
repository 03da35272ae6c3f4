# Written independently of this card's verifier, from the contract alone.
# GAE without a backward loop: deltas r_t + gamma * V_{t+1} - V_t (V_T = 0), then
# A_t = sum_{s >= t} (gamma * lam)^(s - t) delta_s as one matmul with an upper-triangular discount
# matrix; returns = A + V. The clipped loss is written as max(-r A, -clip(r) A) and averaged over
# the unmasked tokens with a weighted sum.
import torch


def gae(rewards, values, gamma=0.99, lam=0.95):
    _B, T = rewards.shape
    r, v = rewards.double(), values.double()
    next_v = torch.cat([v[:, 1:], torch.zeros_like(v[:, :1])], dim=1)
    delta = r + gamma * next_v - v
    t = torch.arange(T, device=rewards.device)
    expo = (t[None, :] - t[:, None]).double()  # expo[s, t] = t - s
    # the weight of delta_s in A_t is (gamma * lam)^(s - t) for s >= t, i.e. expo <= 0
    # (s, t)
    W = torch.where(
        expo <= 0, (gamma * lam) ** (-expo).clamp(min=0), torch.zeros_like(expo)
    )
    adv = delta @ W  # A[:, t] = sum_s delta[:, s] W[s, t]
    adv = adv.to(rewards.dtype)
    return adv, adv + values


def ppo_clip_loss(logprobs, old_logprobs, advantages, mask=None, clip_eps=0.2):
    if advantages.dim() == logprobs.dim() - 1:
        advantages = advantages.unsqueeze(-1)
    advantages = advantages.detach()
    ratio = torch.exp(logprobs - old_logprobs.detach())
    per_tok = torch.maximum(
        -ratio * advantages, -ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages
    )
    if mask is None:
        return per_tok.mean()
    w = mask.to(per_tok.dtype)
    return (per_tok * w).sum() / w.sum()
