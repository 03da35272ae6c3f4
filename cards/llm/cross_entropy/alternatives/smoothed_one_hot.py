"""The smoothed target as a full distribution q = (1 - eps) * one_hot + eps / C, and the loss as
-(q * log p).sum(); log p with an explicit max shift; ignored rows zeroed by torch.where."""

import torch
import torch.nn.functional as F


def cross_entropy(
    logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"
):
    c = logits.shape[1]
    m = torch.amax(logits, dim=1, keepdim=True)
    log_p = (
        logits - m - torch.log(torch.sum(torch.exp(logits - m), dim=1, keepdim=True))
    )
    valid = target.ne(ignore_index)
    one_hot = F.one_hot(target.masked_fill(~valid, 0), num_classes=c).to(log_p.dtype)
    q = one_hot * (1.0 - label_smoothing) + label_smoothing / c
    per_row = -(q * log_p).sum(dim=1)
    per_row = torch.where(valid, per_row, torch.zeros_like(per_row))
    if reduction == "none":
        return per_row
    total = per_row.sum()
    if reduction == "sum":
        return total
    return total / valid.sum().to(per_row.dtype)
