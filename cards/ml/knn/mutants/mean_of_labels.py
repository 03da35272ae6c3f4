# expect: labels were averaged
import torch


def knn_predict(train_x, train_y, test_x, k):
    d2 = (test_x[:, None, :] - train_x[None]).pow(2).sum(-1)
    idx = d2.topk(k, dim=1, largest=False).indices
    return train_y[idx].double().mean(dim=1).round().long()  # bug: regression, not a vote
