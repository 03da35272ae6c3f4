# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def fit_linear_probe(
    features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0
):
    """Full-batch gradient descent from zero on mean CE + (wd/2)||W||^2 with a
    hand-derived gradient: dL/dlogits = (softmax(logits) - onehot) / n."""
    X = features.detach()
    n, d = X.shape
    y = labels.detach().to(device=X.device, dtype=torch.long).reshape(n)
    if num_classes is None:
        num_classes = int(y.max().item()) + 1 if n > 0 else 0
    C = int(num_classes)
    onehot = torch.zeros(n, C, dtype=X.dtype, device=X.device)
    onehot[torch.arange(n, device=X.device), y] = 1.0
    W = torch.zeros(C, d, dtype=X.dtype, device=X.device)
    b = torch.zeros(C, dtype=X.dtype, device=X.device)
    for _ in range(int(steps)):
        logits = X @ W.t() + b
        z = logits - logits.amax(dim=1, keepdim=True)
        e = torch.exp(z)
        p = e / e.sum(dim=1, keepdim=True)
        g = (p - onehot) / n  # (n, C)
        gW = g.t() @ X + weight_decay * W
        gb = g.sum(dim=0)
        W = W - lr * gW
        b = b - lr * gb
    return W, b
