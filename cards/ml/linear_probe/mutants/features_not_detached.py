# expect: the features received a gradient
import torch
import torch.nn.functional as F


def fit_linear_probe(features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0):
    C = int(labels.max()) + 1 if num_classes is None else num_classes
    W = features.new_zeros(C, features.shape[1]).requires_grad_()
    b = features.new_zeros(C).requires_grad_()
    for _ in range(steps):
        # bug: backward() also flows into the (frozen) features
        loss = F.cross_entropy(features @ W.T + b, labels) + 0.5 * weight_decay * W.pow(2).sum()
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            b -= lr * b.grad
            W.grad = None
            b.grad = None
    return W.detach(), b.detach()
