"""torch.amp.autocast spelled with keywords, the dtype chosen by an if, grads set to zeros (not
None), and the loss read before the step."""

import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    for p in model.parameters():
        if p.grad is not None:
            p.grad.zero_()
    if x.is_cuda:
        ctx = torch.amp.autocast(device_type="cuda", dtype=torch.float16)
    else:
        ctx = torch.amp.autocast(device_type="cpu", dtype=torch.bfloat16)
    with ctx:
        out = model(x)
        loss = loss_fn(out, y)
    value = loss.item()
    scaled = scaler.scale(loss)
    scaled.backward()
    scaler.step(optimizer)
    scaler.update()
    return value
