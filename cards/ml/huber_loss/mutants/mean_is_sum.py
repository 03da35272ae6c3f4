# expect: reduction='mean' returned the sum
import torch


def huber_loss(input, target, delta=1.0, reduction="mean"):
    a = (input - target).abs()
    loss = torch.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    if reduction == "none":
        return loss
    return loss.sum()  # bug: 'mean' falls through to the sum
