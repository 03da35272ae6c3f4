# expect: is the scaled one
import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    optimizer.zero_grad()
    dtype = torch.float16 if x.device.type == "cuda" else torch.bfloat16
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = scaler.scale(loss_fn(model(x), y))
    loss.backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()  # bug: the scaled loss
