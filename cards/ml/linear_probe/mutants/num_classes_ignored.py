# expect: C must be num_classes=5 when it is given
import torch


def fit_linear_probe(features, labels, num_classes=None, lr=0.1, steps=500, weight_decay=0.0):
    X = features.detach()
    n = X.shape[0]
    C = int(labels.max()) + 1  # bug: num_classes is never used
    Y = torch.nn.functional.one_hot(labels, C).to(X.dtype)
    W = X.new_zeros(C, X.shape[1])
    b = X.new_zeros(C)
    for _ in range(steps):
        z = X @ W.T + b
        P = (z - z.amax(1, keepdim=True)).exp()
        G = (P / P.sum(1, keepdim=True) - Y) / n
        W, b = W - lr * (G.T @ X + weight_decay * W), b - lr * G.sum(0)
    return W, b
