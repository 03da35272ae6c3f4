# Another style, by the card's author:
# probabilities, w and b as leaf tensors with .grad zeroed each step.
import torch


def fit_logistic_regression(X, y, lr=0.1, steps=500, l2=0.0):
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros(1, dtype=X.dtype, device=X.device, requires_grad=True)
    for _ in range(steps):
        p = torch.sigmoid(X @ w + b)
        eps = torch.finfo(X.dtype).tiny
        bce = -(
            y * torch.log(p.clamp_min(eps))
            + (1 - y) * torch.log((1 - p).clamp_min(eps))
        )
        loss = bce.mean() + (l2 / 2) * torch.dot(w, w)
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
    return w.detach(), b.detach().reshape(())
