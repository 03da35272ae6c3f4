# expect: the bias was never updated
import torch


def fit_linear_regression(X, y, lr=0.1, steps=500):
    n, d = X.shape
    w = torch.zeros(d, dtype=X.dtype, device=X.device)
    b = torch.zeros((), dtype=X.dtype, device=X.device)
    for _ in range(steps):
        r = X @ w + b - y
        w = w - lr * 2 / n * (X.T @ r)  # bug: b is never updated
    return w, b
