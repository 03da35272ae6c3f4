# expect: the model's stale gradients were kept
import torch.nn.functional as F


def train_accumulated(model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy):
    losses, running = [], []
    # bug: no zero_grad before the first micro-batch, only after each step
    for i, (x, y) in enumerate(batches):
        loss = loss_fn(model(x), y)
        (loss / accumulation_steps).backward()
        running.append(loss.item())
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
            losses.append(sum(running) / len(running))
            running = []
    return losses
