# expect: this is smooth L1
import torch


def huber_loss(input, target, delta=1.0, reduction="mean"):
    a = (input - target).abs()
    loss = torch.where(a < delta, 0.5 * a * a / delta, a - 0.5 * delta)  # bug: smooth L1
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()
