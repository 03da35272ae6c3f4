"""Gradients of each micro-batch taken with torch.autograd.grad and summed by hand into .grad
(averaged at the end instead of dividing each loss), then one optimiser step."""

import torch
import torch.nn.functional as F


def train_accumulated(
    model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy
):
    params = [p for p in model.parameters() if p.requires_grad]
    sums = None
    seen, total, losses = 0, 0.0, []
    for x, y in batches:
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, params)
        sums = list(grads) if sums is None else [s + g for s, g in zip(sums, grads)]
        total += loss.item()
        seen += 1
        if seen == accumulation_steps:
            for p, s in zip(params, sums):
                p.grad = s / accumulation_steps
            optimizer.step()
            optimizer.zero_grad()
            losses.append(total / accumulation_steps)
            sums, seen, total = None, 0, 0.0
    return losses
