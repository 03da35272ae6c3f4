# expect: the loss was not divided by accumulation_steps
import torch.nn.functional as F


def train_accumulated(model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy):
    losses, running = [], []
    optimizer.zero_grad()
    for i, (x, y) in enumerate(batches):
        loss = loss_fn(model(x), y)
        loss.backward()  # bug: k gradients summed, k times too large
        running.append(loss.item())
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
            losses.append(sum(running) / len(running))
            running = []
    return losses
