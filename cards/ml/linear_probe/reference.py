"""A linear probe: multinomial logistic regression on frozen features, L2 on the weight only,
fitted by full-batch gradient descent from zero."""

import torch


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int | None = None,
    lr: float = 0.1,
    steps: int = 500,
    weight_decay: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    X = features.detach()  # frozen: no gradient may flow back into the encoder's output
    n, D = X.shape
    C = int(labels.max()) + 1 if num_classes is None else num_classes
    Y = torch.zeros(n, C, dtype=X.dtype, device=X.device)
    Y[torch.arange(n, device=X.device), labels] = 1.0  # one-hot targets
    W = X.new_zeros(C, D)
    b = X.new_zeros(C)
    for _ in range(steps):
        logits = X @ W.T + b
        logits = logits - logits.amax(dim=1, keepdim=True)  # stable softmax
        P = logits.exp()
        P = P / P.sum(dim=1, keepdim=True)
        G = (P - Y) / n  # d(mean CE)/d(logits)
        # (wd/2)·‖W‖² adds wd·W; the bias gets no decay
        W, b = W - lr * (G.T @ X + weight_decay * W), b - lr * G.sum(dim=0)
    return W, b
