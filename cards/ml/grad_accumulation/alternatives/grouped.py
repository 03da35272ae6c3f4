# By the card's author (not written independently of the verifier): batches grouped in chunks of k, one
# chunk per optimiser step; the loss kept as a tensor sum and read once per step.
import torch.nn.functional as F


def train_accumulated(
    model, optimizer, batches, accumulation_steps, loss_fn=F.cross_entropy
):
    k = accumulation_steps
    items = list(batches)
    out = []
    for start in range(0, len(items) - k + 1, k):
        optimizer.zero_grad(set_to_none=True)
        acc = 0.0
        for x, y in items[start : start + k]:
            loss = loss_fn(model(x), y)
            loss.div(k).backward()
            acc = acc + loss.detach()
        optimizer.step()
        out.append(float(acc / k))
    return out
