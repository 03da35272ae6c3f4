# expect: the assignments were recomputed after the last update
import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids.clone()
    for _ in range(iters):
        a = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        new = c.clone()
        for j in range(c.shape[0]):
            if (a == j).any():
                new[j] = x[a == j].mean(0)
        c = new
    a = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)  # bug: one more assignment step
    return c, a
