# expect: the k farthest points voted
import torch


def knn_predict(train_x, train_y, test_x, k):
    d2 = (test_x[:, None, :] - train_x[None]).pow(2).sum(-1)
    idx = d2.topk(k, dim=1).indices  # bug: topk returns the largest distances by default
    votes = train_y[idx]
    counts = torch.zeros(len(test_x), int(train_y.max()) + 1, dtype=torch.long, device=test_x.device)
    counts.scatter_add_(1, votes, torch.ones_like(votes))
    return counts.argmax(1)
