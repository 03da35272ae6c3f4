"""The bias as a column of the weight over [X | 1], a decay mask that skips it, log-sum-exp by
hand, the loop in float64 and the result cast back."""

import torch


def fit_linear_probe(
    features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0
):
    n, D = features.shape
    C = int(labels.max().item()) + 1 if num_classes is None else int(num_classes)
    dev = features.device
    A = torch.cat(
        [features.detach().double(), torch.ones(n, 1, dtype=torch.float64, device=dev)],
        1,
    )
    onehot = torch.zeros(n, C, dtype=torch.float64, device=dev).scatter_(
        1, labels[:, None], 1.0
    )
    decay = torch.ones(1, D + 1, dtype=torch.float64, device=dev)
    decay[0, D] = 0.0
    theta = torch.zeros(C, D + 1, dtype=torch.float64, device=dev)
    for _ in range(steps):
        z = A @ theta.T
        z = z - z.max(dim=1, keepdim=True).values
        p = torch.exp(z)
        p = p / p.sum(dim=1, keepdim=True)
        theta = theta - lr * (((p - onehot).T @ A) / n + weight_decay * decay * theta)
    return theta[:, :D].to(features.dtype), theta[:, D].to(features.dtype)
