# expect: this is the squared-error gradient
import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    n, d = X.shape
    w = X.new_zeros(d)
    b = X.new_zeros(())
    for _ in range(steps):
        p = torch.sigmoid(X @ w + b)
        r = (p - y) * p * (1 - p)  # bug: chain rule of (p - y)², not of BCE
        w, b = w - lr * (X.T @ r / n + l2 * w), b - lr * r.mean()
    return w, b
