"""Logistic regression with an L2 penalty on the weights, fitted by full-batch gradient descent
on the mean binary cross-entropy."""

import torch


def fit_logistic_regression(
    X: torch.Tensor, y: torch.Tensor, lr: float = 0.1, steps: int = 500, l2: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    n, d = X.shape
    w = X.new_zeros(d)
    b = X.new_zeros(())
    for _ in range(steps):
        p = torch.sigmoid(X @ w + b)  # (n,)
        # d/dz BCE(sigmoid(z), y) = p - y: the sigmoid's derivative cancels against the log's
        r = p - y
        grad_w = X.T @ r / n + l2 * w  # (l2/2)·‖w‖² contributes l2·w
        grad_b = r.mean()  # the bias is not penalised
        w, b = w - lr * grad_w, b - lr * grad_b  # both at the same point
    return w, b
