"""Loops over the clusters: distances through the expansion |x|² - 2 x·c + |c|² with a matmul,
argmin for the nearest (first minimum on ties), then each cluster's mean by boolean indexing."""

import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids.detach().clone()
    labels = None
    x2 = (x * x).sum(1, keepdim=True)
    for _ in range(iters):
        d = x2 - 2 * x @ c.T + (c * c).sum(1)[None, :]
        labels = torch.argmin(d, dim=1)
        new = c.clone()
        for j in range(c.shape[0]):
            members = labels == j
            if members.any():
                new[j] = x[members].mean(dim=0)
        c = new
    return c, labels
