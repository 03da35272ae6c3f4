# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
import torch.nn.functional as F


def train_accumulated(
    model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy
):
    """Groups the micro-batches first, then does ONE backward per group on the mean of the
    group's losses (equal batch sizes make that the big-batch loss), then one optimiser step.
    A trailing incomplete group is stepped on its own mean."""
    if accumulation_steps < 1:
        raise ValueError("accumulation_steps must be >= 1")
    history = []
    group = []

    def flush(group):
        optimizer.zero_grad()
        losses = [loss_fn(model(x), y) for x, y in group]
        total = torch.stack([l.reshape(()) for l in losses]).mean()
        total.backward()
        optimizer.step()
        history.append(float(total.detach()))

    for batch in batches:
        group.append(batch)
        if len(group) == accumulation_steps:
            flush(group)
            group = []
    if group:
        flush(group)
    return history
