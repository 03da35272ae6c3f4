"""Linear regression fitted by full-batch gradient descent on the mean squared error."""

import torch


def fit_linear_regression(
    X: torch.Tensor, y: torch.Tensor, lr: float = 0.1, steps: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    n, d = X.shape
    w = X.new_zeros(d)
    b = X.new_zeros(())
    for _ in range(steps):
        r = X @ w + b - y  # (n,) residuals at the current (w, b)
        # d/dw mean(r²) = (2/n) Xᵀ r: the 2 comes from the square (it is not ½·MSE)
        grad_w = (2.0 / n) * (X.T @ r)
        grad_b = (2.0 / n) * r.sum()
        # both gradients were taken at the same point: update them together
        w = w - lr * grad_w
        b = b - lr * grad_b
    return w, b
