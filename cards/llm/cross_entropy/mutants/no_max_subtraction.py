# expect: without subtracting the row max
import torch


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    # bug: exp without the max shift overflows for large logits
    log_probs = logits - logits.exp().sum(dim=-1, keepdim=True).log()
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    nll = -log_probs.gather(1, safe[:, None]).squeeze(1)
    smooth = -log_probs.mean(dim=-1)
    eps = label_smoothing
    loss = torch.where(keep, (1 - eps) * nll + eps * smooth, torch.zeros_like(nll))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum()
