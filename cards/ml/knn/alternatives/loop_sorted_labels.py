"""One test row at a time: torch.cdist, topk, then bincount of the neighbours' labels; the
smallest label among those with the highest count is found explicitly."""

import torch


def knn_predict(train_x, train_y, test_x, k):
    out = torch.empty(test_x.shape[0], dtype=torch.int64, device=test_x.device)
    for i in range(test_x.shape[0]):
        dist = torch.cdist(test_x[i : i + 1], train_x)[0]
        near = torch.topk(dist, k, largest=False).indices
        counts = torch.bincount(train_y[near])
        best = counts.max()
        out[i] = torch.nonzero(counts == best)[0, 0]  # nonzero lists indices in order
    return out
