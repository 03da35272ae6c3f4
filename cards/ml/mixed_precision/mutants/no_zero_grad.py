# expect: stale gradients were not zeroed
import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    # bug: no optimizer.zero_grad(); old gradients are added to the new ones
    dtype = torch.float16 if x.device.type == "cuda" else torch.bfloat16
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.item()
