# expect: input `init_centroids` was modified in place
import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids  # bug: no copy, the caller's centroids are overwritten
    for _ in range(iters):
        a = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        for j in range(c.shape[0]):
            if (a == j).any():
                c[j] = x[a == j].mean(0)
    return c, a
