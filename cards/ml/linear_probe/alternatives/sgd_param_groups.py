"""nn.Linear trained with F.cross_entropy and torch.optim.SGD, two param groups so that only
the weight is decayed (SGD's weight_decay adds wd·W to the gradient: the (wd/2)·‖W‖² penalty)."""

import torch
import torch.nn.functional as F


def fit_linear_probe(
    features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0
):
    X = features.detach()
    C = int(labels.max()) + 1 if num_classes is None else num_classes
    probe = torch.nn.Linear(X.shape[1], C).to(device=X.device, dtype=X.dtype)
    with torch.no_grad():
        probe.weight.zero_()
        probe.bias.zero_()
    opt = torch.optim.SGD(
        [
            {"params": [probe.weight], "weight_decay": weight_decay},
            {"params": [probe.bias], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(probe(X), labels).backward()
        opt.step()
    return probe.weight.detach().clone(), probe.bias.detach().clone()
