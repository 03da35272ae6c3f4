"""Row by row in Python, each row's log-sum-exp computed in float64 and the result cast back to
the logits' dtype; ignored rows skipped."""

import torch


def cross_entropy(
    logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"
):
    x = logits.double()
    losses = []
    counted = 0
    for i in range(x.shape[0]):
        t = int(target[i])
        if t == ignore_index:
            losses.append(x.new_zeros(()))  # keeps the graph shape, no gradient
            continue
        row = x[i]
        top = row.max()
        lse = top + torch.log(torch.exp(row - top).sum())
        nll = lse - row[t]
        uniform = lse - row.mean()  # mean over classes of -log p
        losses.append((1 - label_smoothing) * nll + label_smoothing * uniform)
        counted += 1
    per_row = torch.stack(losses)
    if reduction == "none":
        out = per_row
    elif reduction == "sum":
        out = per_row.sum()
    else:
        out = per_row.sum() / counted
    return out.to(logits.dtype)
