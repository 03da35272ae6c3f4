# expect: the optimiser stepped after every micro-batch
import torch.nn.functional as F


def train_accumulated(model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy):
    losses, running = [], []
    for i, (x, y) in enumerate(batches):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        (loss / accumulation_steps).backward()
        optimizer.step()  # bug: k small steps instead of one accumulated step
        running.append(loss.item())
        if (i + 1) % accumulation_steps == 0:
            losses.append(sum(running) / len(running))
            running = []
    return losses
