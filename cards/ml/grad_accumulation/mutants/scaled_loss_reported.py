# expect: it equals the mean divided by accumulation_steps
import torch.nn.functional as F


def train_accumulated(model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy):
    losses, running = [], 0.0
    optimizer.zero_grad()
    for i, (x, y) in enumerate(batches):
        loss = loss_fn(model(x), y) / accumulation_steps
        loss.backward()
        running += loss.item()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
            losses.append(running / accumulation_steps)  # bug: divided by k twice
            running = 0.0
    return losses
