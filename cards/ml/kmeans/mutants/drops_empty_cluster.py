# expect: an empty cluster was dropped
import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids.clone()
    for _ in range(iters):
        a = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        # bug: only the clusters that have points survive
        c = torch.stack([x[a == j].mean(0) for j in range(c.shape[0]) if (a == j).any()])
    return c, a
