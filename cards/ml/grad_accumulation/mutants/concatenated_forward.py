# expect: accumulation runs one micro-batch per forward
import torch
import torch.nn.functional as F


def train_accumulated(model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy):
    items = list(batches)
    losses = []
    for i in range(0, len(items), accumulation_steps):
        group = items[i : i + accumulation_steps]
        # bug: one big forward; the memory saving of accumulation is lost
        x = torch.cat([b[0] for b in group])
        y = torch.cat([b[1] for b in group])
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
