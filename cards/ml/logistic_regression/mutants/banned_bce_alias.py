# expect: uses banned `torch.nn.functional.binary_cross_entropy_with_logits`
import torch
import torch.nn.functional as nnf

bce = nnf.binary_cross_entropy_with_logits


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    w = X.new_zeros(X.shape[1], requires_grad=True)
    b = X.new_zeros((), requires_grad=True)
    for _ in range(steps):
        loss = bce(X @ w + b, y) + 0.5 * l2 * (w * w).sum()  # bug: the BCE built-in
        gw, gb = torch.autograd.grad(loss, (w, b))
        with torch.no_grad():
            w -= lr * gw
            b -= lr * gb
    return w.detach(), b.detach()
