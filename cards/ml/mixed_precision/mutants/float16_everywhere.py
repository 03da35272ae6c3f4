# expect: the forward ran under autocast with the wrong dtype
import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    optimizer.zero_grad()
    # bug: float16 whatever the device; the CPU's autocast dtype is bfloat16
    with torch.autocast(device_type=x.device.type, dtype=torch.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
