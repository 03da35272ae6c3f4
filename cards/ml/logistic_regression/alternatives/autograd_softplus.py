"""Autograd on the loss written in its stable logit form, BCE(sigmoid(z), y) = softplus(z) − y·z,
plus (l2/2)·‖w‖²; the update under no_grad."""

import torch
import torch.nn.functional as F


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, device=X.device, requires_grad=True)
    for _ in range(steps):
        z = X @ w + b
        loss = (F.softplus(z) - y * z).mean() + 0.5 * l2 * w.pow(2).sum()
        gw, gb = torch.autograd.grad(loss, (w, b))
        with torch.no_grad():
            w.sub_(lr * gw)
            b.sub_(lr * gb)
    return w.detach().clone(), b.detach().clone()
