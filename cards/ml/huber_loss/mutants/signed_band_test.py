# expect: compares d with delta instead of |d|
import torch


def huber_loss(input, target, delta=1.0, reduction="mean"):
    d = input - target
    # bug: d < delta is true for every negative difference, however large
    loss = torch.where(d < delta, 0.5 * d * d, delta * (d.abs() - 0.5 * delta))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()
