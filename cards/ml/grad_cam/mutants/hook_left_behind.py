# expect: hooks were left registered
import torch


def grad_cam(model, target_layer, x, class_idx=None):
    store = {}
    handle = target_layer.register_forward_hook(
        lambda mod, inp, out: store.update(a=out)
    )
    logits = model(x)  # bug: the handle is never removed
    del handle
    a = store["a"]
    if class_idx is None:
        class_idx = logits.argmax(dim=1)
    elif isinstance(class_idx, int):
        class_idx = torch.full(
            (x.shape[0],), class_idx, dtype=torch.long, device=logits.device
        )
    class_idx = class_idx.to(logits.device)
    # The raw logit, not a softmax probability; samples are independent, so summing the
    # chosen logits gives each sample's own gradient in one backward pass.
    score = logits.gather(1, class_idx.view(-1, 1)).sum()
    grads = torch.autograd.grad(score, a)[0]
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
    return torch.relu((weights * a).sum(dim=1))
