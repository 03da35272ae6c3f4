# expect: the bias was decayed too
import torch
import torch.nn.functional as F


def fit_linear_probe(features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0):
    X = features.detach()
    C = int(labels.max()) + 1 if num_classes is None else num_classes
    W = torch.zeros(C, X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros(C, dtype=X.dtype, device=X.device, requires_grad=True)
    # bug: one param group, so weight_decay applies to the bias as well
    opt = torch.optim.SGD([W, b], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(X @ W.T + b, labels).backward()
        opt.step()
    return W.detach(), b.detach()
