# expect: rounds, not
import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids.clone()
    for _ in range(iters + 1):  # bug: counts the initial assignment as iteration 0
        a = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        new = c.clone()
        for j in range(c.shape[0]):
            if (a == j).any():
                new[j] = x[a == j].mean(0)
        c = new
    return c, a
