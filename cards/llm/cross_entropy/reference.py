"""Cross-entropy with class-index targets, ignore_index and label smoothing (Szegedy et al.,
2016, "Rethinking the Inception Architecture"), as torch.nn.functional.cross_entropy.

Left out: class weights, probability targets and extra spatial dims (N, C, d1, ...).
"""

import torch


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    # Log-sum-exp trick: subtract the row max so that exp never overflows and the target's log
    # probability stays finite even where its probability underflows to 0.
    shifted = logits - logits.max(dim=-1, keepdim=True).values.detach()  # (N, C)
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()  # (N, C)

    keep = target != ignore_index  # (N,)
    # ignore_index may be -100
    safe = torch.where(keep, target, torch.zeros_like(target))
    nll = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1)  # (N,)
    # (N,) uniform over all C classes, the target included
    smooth = -log_probs.mean(dim=-1)
    eps = label_smoothing
    # ignored rows: 0, smoothing included
    loss = ((1 - eps) * nll + eps * smooth) * keep

    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / keep.sum()  # only the rows that are not ignored count
    raise ValueError(f"unknown reduction {reduction!r}")
