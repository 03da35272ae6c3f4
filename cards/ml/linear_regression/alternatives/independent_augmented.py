# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def fit_linear_regression(X, y, lr=0.1, steps=500):
    """Full-batch gradient descent on mean((Xw + b - y)^2), written with an
    augmented design matrix [X | 1] so that w and b form one parameter vector
    theta and are updated together by a single hand-derived gradient."""
    X = X.detach()
    n, d = X.shape
    y = y.detach().to(dtype=X.dtype, device=X.device).reshape(n)
    ones = torch.ones(n, 1, dtype=X.dtype, device=X.device)
    Xa = torch.cat([X, ones], dim=1)  # (n, d + 1)
    theta = torch.zeros(d + 1, dtype=X.dtype, device=X.device)
    scale = 2.0 / n
    for _ in range(int(steps)):
        residual = Xa @ theta - y  # (n,)
        grad = scale * (Xa.t() @ residual)  # (d + 1,)
        theta = theta - lr * grad
    weight = theta[:d].clone()
    bias = theta[d].clone()  # 0-dim
    return weight, bias
