"""A forward hook that registers a tensor hook on the activation to catch its gradient, and one
backward() of the chosen logits (the gradient lands in the hook, not in .grad)."""

import torch


def grad_cam(model, target_layer, x, class_idx=None):
    saved = {}

    def forward_hook(module, inputs, output):
        saved["act"] = output
        output.register_hook(lambda g: saved.__setitem__("grad", g))

    handle = target_layer.register_forward_hook(forward_hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    b = logits.shape[0]
    if class_idx is None:
        idx = logits.argmax(1)
    elif isinstance(class_idx, torch.Tensor):
        idx = class_idx.to(logits.device).long()
    else:
        idx = torch.tensor([class_idx] * b, device=logits.device)
    onehot = torch.zeros_like(logits)
    onehot[torch.arange(b, device=logits.device), idx] = 1.0
    logits.backward(gradient=onehot)
    act, grad = saved["act"].detach(), saved["grad"]
    alpha = grad.mean(dim=(-2, -1))  # (B, K)
    cam = torch.einsum("bk,bkhw->bhw", alpha, act)
    return cam.clamp(min=0)
