# Written from the contract alone, by a writer who had not read this card's verifier.


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def huber_loss(input, target, delta=1.0, reduction="mean"):
    """Branch-free Huber: with a = |x - y| and q = min(a, delta),
    loss = q * (a - q / 2), which is a^2/2 when a <= delta and
    delta * (a - delta/2) otherwise."""
    a = (input - target).abs()
    q = a.clamp(max=delta)
    loss = q * (a - 0.5 * q)
    return _reduce(loss, reduction)
