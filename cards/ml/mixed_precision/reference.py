"""One mixed-precision training step with the caller's torch.amp.GradScaler."""

import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    optimizer.zero_grad()
    device_type = x.device.type
    # float16 needs the scaler (its small range underflows gradients); bfloat16 is the CPU's.
    dtype = torch.float16 if device_type == "cuda" else torch.bfloat16
    with torch.autocast(device_type=device_type, dtype=dtype):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()  # backward of loss * scale: small gradients survive
    # unscales the gradients; skips the step if any is inf or NaN
    scaler.step(optimizer)
    scaler.update()  # lowers the scale after a skipped step, grows it after good ones
    return loss.item()  # the unscaled loss
