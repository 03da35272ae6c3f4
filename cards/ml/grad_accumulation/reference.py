"""Gradient accumulation: k micro-batches per optimiser step, equal to one step on their
concatenation (for a mean-reduced loss and equal-sized micro-batches)."""

import torch.nn.functional as F


def train_accumulated(
    model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy
):
    losses = []
    optimizer.zero_grad()  # the model may come in with stale gradients
    total = 0.0
    for i, (x, y) in enumerate(batches, start=1):
        loss = loss_fn(model(x), y)
        # Divide by k: the summed gradients of k mean losses / k = the big batch's mean loss.
        (loss / accumulation_steps).backward()
        total += loss.item()
        if i % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
            losses.append(total / accumulation_steps)  # the big batch's mean loss
            total = 0.0
    return losses
