# expect: the penalty's gradient is 2·l2·w
import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    n, d = X.shape
    w = X.new_zeros(d)
    b = X.new_zeros(())
    for _ in range(steps):
        r = torch.sigmoid(X @ w + b) - y
        # bug: d/dw of (l2/2)·||w||² is l2·w, not 2·l2·w
        w, b = w - lr * (X.T @ r / n + 2 * l2 * w), b - lr * r.mean()
    return w, b
