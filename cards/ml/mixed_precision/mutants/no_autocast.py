# expect: the forward did not run under autocast
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)  # bug: plain float32 forward, no autocast
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
