# expect: changed the caller's x
import torch


def grad_cam(model, target_layer, x, class_idx=None):
    x.requires_grad_(True)
    store = {}
    h = target_layer.register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    try:
        logits = model(x)
    finally:
        h.remove()
    A = store["A"]
    B = logits.shape[0]
    if class_idx is None:
        idx = logits.argmax(dim=1)
    elif isinstance(class_idx, int):
        idx = torch.full((B,), class_idx, dtype=torch.long, device=logits.device)
    else:
        idx = class_idx.to(logits.device)
    score = logits.gather(1, idx[:, None]).sum()
    grads = torch.autograd.grad(score, A)[0]
    w = grads.mean(dim=(2, 3))
    cam = torch.relu((w[:, :, None, None] * A).sum(1))
    return cam.detach().to(x.dtype)
