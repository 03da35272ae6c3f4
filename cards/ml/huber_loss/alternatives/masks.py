# Another style, by the card's author:
# sum / numel, half precision upcast.
import torch


def huber_loss(input, target, delta=1.0, reduction="mean"):
    half = input.dtype in (torch.float16, torch.bfloat16)
    x = input.float() if half else input
    y = target.float() if half else target
    diff = x - y
    absd = torch.abs(diff)
    small = (absd < delta).to(diff.dtype)
    loss = small * 0.5 * diff.pow(2) + (1 - small) * delta * (absd - delta / 2)
    if reduction == "mean":
        loss = loss.sum() / loss.numel()
    elif reduction == "sum":
        loss = loss.sum()
    elif reduction != "none":
        raise ValueError(reduction)
    return loss.to(input.dtype) if half else loss
