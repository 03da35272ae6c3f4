"""Autograd does the calculus: w and b as leaves, loss.backward(), an update under no_grad,
grads zeroed; detached copies returned."""

import torch


def fit_linear_regression(X, y, lr=0.1, steps=500):
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, device=X.device, requires_grad=True)
    for _ in range(steps):
        loss = (X @ w + b - y).pow(2).mean()
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad = None
        b.grad = None
    return w.detach().clone(), b.detach().clone()
