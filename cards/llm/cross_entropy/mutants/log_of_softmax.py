# expect: log(0) = -inf
import torch


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    log_probs = torch.log(torch.softmax(logits, dim=-1))  # bug: -inf once p underflows to 0
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
