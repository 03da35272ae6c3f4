# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
import torch.nn.functional as F


def amp_train_step(model, optimizer, scaler, x, y, loss_fn=F.cross_entropy):
    """AMP step: forward in autocast, loss computed in float32 outside autocast,
    explicit unscale_ before the (scaler-guarded) step, then update."""
    device_type = x.device.type
    amp_dtype = torch.float16 if device_type == "cuda" else torch.bfloat16
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device_type, dtype=amp_dtype):
        out = model(x)
    loss = loss_fn(out.float(), y)
    scaler.scale(loss).backward()
    # grads are now true-scale; step() will not unscale twice
    scaler.unscale_(optimizer)
    scaler.step(optimizer)  # skipped if any grad is inf/nan
    scaler.update()  # lowers the scale after an overflow
    return float(loss.detach())
