# expect: the nearest neighbour was skipped
import torch


def knn_predict(train_x, train_y, test_x, k):
    d2 = torch.cdist(test_x, train_x) ** 2
    # bug: drops the first neighbour, as if the query were in the training set
    idx = d2.argsort(dim=1)[:, 1 : k + 1]
    votes = train_y[idx]
    counts = torch.zeros(len(test_x), int(train_y.max()) + 1, dtype=torch.long, device=test_x.device)
    counts.scatter_add_(1, votes, torch.ones_like(votes))
    return counts.argmax(1)
