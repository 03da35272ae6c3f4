# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def grad_cam(model, target_layer, x, class_idx=None):
    """A forward hook captures the target layer's activation (made a leaf that
    requires grad if nothing upstream does); the gradients come from
    torch.autograd.grad on the selected pre-softmax logits rather than from a
    backward hook, so no .grad field anywhere is touched. The hook is removed
    in a finally block and the model's train/eval mode is never changed."""
    captured = {}

    def fwd_hook(module, inputs, output):
        if not output.requires_grad:
            output = output.detach().requires_grad_(True)
            captured["act"] = output
            return output
        captured["act"] = output
        return None

    handle = target_layer.register_forward_hook(fwd_hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            if "act" not in captured:
                raise RuntimeError(
                    "target_layer was not called during the forward pass"
                )
            A = captured["act"]
            logits2 = logits.reshape(logits.shape[0], -1)
            B = logits2.shape[0]
            if class_idx is None:
                idx = logits2.detach().argmax(dim=1)
            elif isinstance(class_idx, torch.Tensor):
                idx = class_idx.to(device=logits2.device, dtype=torch.long).reshape(-1)
                if idx.numel() == 1 and B != 1:
                    idx = idx.expand(B)
            else:
                idx = torch.full(
                    (B,), int(class_idx), dtype=torch.long, device=logits2.device
                )
            chosen = logits2.gather(1, idx[:, None]).sum()
            (grads,) = torch.autograd.grad(chosen, A)
    finally:
        handle.remove()
    A = A.detach()
    grads = grads.detach()
    alpha = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
    cam = (alpha * A).sum(dim=1)  # (B, h, w)
    return torch.clamp(cam, min=0)
