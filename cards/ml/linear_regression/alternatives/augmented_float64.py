"""The bias folded into the weights: A = [X | 1], theta ∈ R^{d+1}, one gradient
(2/n)·Aᵀ(Aθ − y) per step, computed in float64 and cast back."""

import torch


def fit_linear_regression(X, y, lr=0.1, steps=500):
    A = torch.cat(
        [X.double(), torch.ones(X.shape[0], 1, dtype=torch.float64, device=X.device)], 1
    )
    t = y.double()
    theta = torch.zeros(A.shape[1], dtype=torch.float64, device=X.device)
    n = A.shape[0]
    for _ in range(steps):
        theta = theta - lr * (2.0 / n) * A.T @ (A @ theta - t)
    return theta[:-1].to(X.dtype), theta[-1].to(X.dtype)
