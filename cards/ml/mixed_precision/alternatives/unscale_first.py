# By the card's author (not written independently of the verifier): the loss computed on float32 logits outside the
# autocast block, and an explicit scaler.unscale_ before scaler.step (the pattern used when
# clipping gradients), with the autocast dtype looked up per device.
import torch
import torch.nn.functional as F

_AMP_DTYPE = {"cuda": torch.float16, "cpu": torch.bfloat16}


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    optimizer.zero_grad(set_to_none=True)
    kind = x.device.type
    with torch.autocast(kind, dtype=_AMP_DTYPE[kind]):
        logits = model(x)
    loss = loss_fn(logits.float(), y)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())
