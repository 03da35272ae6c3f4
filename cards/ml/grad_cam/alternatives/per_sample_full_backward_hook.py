"""One sample at a time, with a full backward hook on the module for the output gradient and
autograd.backward; the maps are stacked. Hooks removed in finally."""

import torch
import torch.nn.functional as F


def grad_cam(model, target_layer, x, class_idx=None):
    acts, grads = [], []
    h1 = target_layer.register_forward_hook(lambda m, i, o: acts.append(o.detach()))
    h2 = target_layer.register_full_backward_hook(lambda m, gi, go: grads.append(go[0]))
    maps = []
    try:
        for b in range(x.shape[0]):
            acts.clear()
            grads.clear()
            logits = model(x[b : b + 1])[0]
            if class_idx is None:
                c = int(logits.argmax())
            elif isinstance(class_idx, int):
                c = class_idx
            else:
                c = int(class_idx[b])
            torch.autograd.backward(logits[c])
            a, g = acts[0][0], grads[0][0]  # (K, h, w)
            w = g.flatten(1).mean(1)
            maps.append(F.relu((w[:, None, None] * a).sum(0)))
    finally:
        h1.remove()
        h2.remove()
    return torch.stack(maps)
