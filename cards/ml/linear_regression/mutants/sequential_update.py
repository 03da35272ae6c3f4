# expect: updated one after the other
import torch


def fit_linear_regression(X, y, lr=0.1, steps=500):
    n, d = X.shape
    w = torch.zeros(d, dtype=X.dtype, device=X.device)
    b = torch.zeros((), dtype=X.dtype, device=X.device)
    for _ in range(steps):
        w = w - lr * 2 / n * (X.T @ (X @ w + b - y))
        b = b - lr * 2 / n * (X @ w + b - y).sum()  # bug: the residual already uses the new w
    return w, b
