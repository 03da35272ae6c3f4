# expect: the linear piece leaves out the factor delta
import torch


def huber_loss(input, target, delta=1.0, reduction="mean"):
    a = (input - target).abs()
    loss = torch.where(a < delta, 0.5 * a * a, a - 0.5 * delta)  # bug: slope 1, not delta
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()
