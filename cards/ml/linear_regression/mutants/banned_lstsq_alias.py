# expect: uses banned `torch.linalg.lstsq`
import torch
from torch.linalg import lstsq as solve_ls


def fit_linear_regression(X, y, lr=0.1, steps=500):
    if steps == 0:
        return X.new_zeros(X.shape[1]), X.new_zeros(())
    # bug: a closed form instead of gradient descent
    A = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)
    theta = solve_ls(A, y[:, None]).solution[:, 0]
    return theta[:-1], theta[-1]
