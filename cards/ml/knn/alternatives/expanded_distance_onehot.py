"""‖a‖² + ‖b‖² − 2a·b for the distances (in float64, so the expansion loses nothing), argsort
for the neighbours, one-hot votes summed, argmax (the first maximum, hence the smallest tied
label)."""

import torch.nn.functional as F


def knn_predict(train_x, train_y, test_x, k):
    a, b = test_x.double(), train_x.double()
    d2 = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2 * a @ b.T
    idx = d2.argsort(dim=1, stable=True)[:, :k]
    counts = F.one_hot(train_y[idx], num_classes=int(train_y.max()) + 1).sum(dim=1)
    return counts.argmax(dim=1)
