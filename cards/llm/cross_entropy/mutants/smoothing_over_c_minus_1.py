# expect: spread over the C - 1 other classes
import torch


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    C = logits.shape[-1]
    # bug: eps/(C-1) on the wrong classes, 1 - eps on the target
    smoothed = torch.full_like(log_probs, label_smoothing / (C - 1))
    smoothed.scatter_(1, safe[:, None], 1 - label_smoothing)
    loss = -(smoothed * log_probs).sum(dim=-1) * keep
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum()
