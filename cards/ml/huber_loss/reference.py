"""Huber loss (Huber, 1964, "Robust Estimation of a Location Parameter"), as
torch.nn.functional.huber_loss."""

import torch


def huber_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    delta: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    # float32 inside for half precision
    work = torch.promote_types(input.dtype, torch.float32)
    a = (input.to(work) - target.to(work)).abs()
    # Quadratic inside the band, linear outside; the linear piece keeps slope delta and meets
    # the quadratic at |d| = delta. No division by delta (that would be smooth L1).
    loss = torch.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = loss.sum()
    elif reduction == "mean":
        out = loss.mean()
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    return out.to(input.dtype)
