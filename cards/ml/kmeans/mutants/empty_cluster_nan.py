# expect: an empty cluster's centroid became NaN
import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids.clone()
    k = c.shape[0]
    for _ in range(iters):
        a = torch.cdist(x, c).argmin(1)
        onehot = torch.nn.functional.one_hot(a, k).to(x.dtype)  # (n, k)
        c = (onehot.T @ x) / onehot.sum(0)[:, None]  # bug: 0 / 0 for an empty cluster
    return c, a
