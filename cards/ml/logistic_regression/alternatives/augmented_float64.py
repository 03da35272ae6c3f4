"""The bias as an extra weight on a column of ones, a penalty mask that leaves it out, and the
whole loop in float64, cast back at the end."""

import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    n, d = X.shape
    A = torch.cat(
        [X.double(), torch.ones(n, 1, dtype=torch.float64, device=X.device)], 1
    )
    t = y.double()
    mask = torch.ones(d + 1, dtype=torch.float64, device=X.device)
    mask[-1] = 0.0  # no penalty on the bias
    theta = torch.zeros(d + 1, dtype=torch.float64, device=X.device)
    for _ in range(steps):
        p = 1.0 / (1.0 + torch.exp(-(A @ theta)))
        theta = theta - lr * (A.T @ (p - t) / n + l2 * mask * theta)
    return theta[:d].to(X.dtype), theta[d].to(X.dtype)
