"""By hand: log-probabilities in float32, the target's log-probability gathered, a mask for
ignored targets, and the sum divided by the number of counted targets."""

import torch


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    x = logits[:, :-1].to(torch.float32)
    targets = input_ids[:, 1:]
    mask = targets.ne(ignore_index)
    log_probs = x - torch.logsumexp(x, dim=-1, keepdim=True)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    picked = torch.where(mask, picked, torch.zeros_like(picked))
    return -picked.sum() / mask.sum()
