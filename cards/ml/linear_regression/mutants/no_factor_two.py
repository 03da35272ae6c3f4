# expect: missing the factor 2
import torch


def fit_linear_regression(X, y, lr=0.1, steps=500):
    n, d = X.shape
    w = torch.zeros(d, dtype=X.dtype, device=X.device)
    b = torch.zeros((), dtype=X.dtype, device=X.device)
    for _ in range(steps):
        r = X @ w + b - y
        # bug: the gradient of ½·mean(r²), not of mean(r²)
        w, b = w - lr * (X.T @ r) / n, b - lr * r.mean()
    return w, b
