# expect: the loss was not scaled before backward
import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    optimizer.zero_grad()
    dtype = torch.float16 if x.device.type == "cuda" else torch.bfloat16
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = loss_fn(model(x), y)
    loss.backward()  # bug: scaler.step still divides by the scale
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
