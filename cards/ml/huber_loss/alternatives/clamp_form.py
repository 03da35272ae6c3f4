"""q = min(|d|, delta), loss = q·(|d| - q/2): 0.5·d² in the band and delta·(|d| - delta/2)
outside, without a branch; computed in float64 and cast back."""


def huber_loss(input, target, delta=1.0, reduction="mean"):
    a = (input.double() - target.double()).abs()
    q = a.clamp(max=delta)
    loss = q * (a - 0.5 * q)
    if reduction == "sum":
        loss = loss.sum()
    elif reduction == "mean":
        loss = loss.sum() / max(a.numel(), 1)
    return loss.to(input.dtype)
