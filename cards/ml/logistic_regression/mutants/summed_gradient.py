# expect: the gradient sums over the rows instead of averaging
import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    w = X.new_zeros(X.shape[1])
    b = X.new_zeros(())
    for _ in range(steps):
        r = torch.sigmoid(X @ w + b) - y
        w, b = w - lr * (X.T @ r + l2 * w), b - lr * r.sum()  # bug: no 1/n
    return w, b
