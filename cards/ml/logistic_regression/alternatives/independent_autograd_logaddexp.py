# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    """Autograd version: the loss is written with the stable identity
    BCE(z, y) = log(1 + e^z) - y z = logaddexp(0, z) - y z, and w, b are
    stepped together (both gradients taken before either is changed)."""
    X = X.detach()
    n, d = X.shape
    yf = y.detach().to(dtype=X.dtype, device=X.device).reshape(n)
    w = torch.zeros(d, dtype=X.dtype, device=X.device)
    b = torch.zeros((), dtype=X.dtype, device=X.device)
    zero = torch.zeros((), dtype=X.dtype, device=X.device)
    with torch.enable_grad():
        for _ in range(int(steps)):
            w.requires_grad_(True)
            b.requires_grad_(True)
            z = X @ w + b
            bce = (torch.logaddexp(zero, z) - yf * z).mean()
            loss = bce + 0.5 * l2 * (w * w).sum()
            gw, gb = torch.autograd.grad(loss, (w, b))
            with torch.no_grad():
                w = (w - lr * gw).detach()
                b = (b - lr * gb).detach()
    return w.detach(), b.detach()
