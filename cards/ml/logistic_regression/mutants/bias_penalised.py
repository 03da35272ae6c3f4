# expect: the bias was penalised too
import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    n, d = X.shape
    w = X.new_zeros(d)
    b = X.new_zeros(())
    for _ in range(steps):
        r = torch.sigmoid(X @ w + b) - y
        # bug: weight decay applied to every parameter, the bias included
        w, b = w - lr * (X.T @ r / n + l2 * w), b - lr * (r.mean() + l2 * b)
    return w, b
