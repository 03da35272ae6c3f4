# expect: uses banned `torch.nn.functional.nll_loss`
import torch
from torch.nn.functional import nll_loss as nll


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    # bug: not from scratch, torch's NLL loss does the masking and the reduction
    hard = nll(log_probs, target, ignore_index=ignore_index, reduction=reduction)
    if not label_smoothing:
        return hard
    keep = target != ignore_index
    smooth = -log_probs.mean(dim=-1) * keep
    smooth = {"none": smooth, "sum": smooth.sum(), "mean": smooth.sum() / keep.sum()}[reduction]
    return (1 - label_smoothing) * hard + label_smoothing * smooth
