"""k-means by Lloyd's algorithm from given centroids, as scipy.cluster.vq.kmeans2(x, init,
iters, minit="matrix"): each iteration assigns every point to its nearest centroid, then moves
each centroid to the mean of its points."""

import torch


def kmeans(x, init_centroids, iters):
    centroids = init_centroids.clone()  # never update the caller's tensor
    k = centroids.shape[0]
    assignments = None
    for _ in range(iters):
        # squared Euclidean distances (n, k); argmin returns the first minimum: a tie goes to
        # the lower centroid index
        d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
        assignments = d2.argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignments, x)
        counts = torch.bincount(assignments, minlength=k)
        # an empty cluster keeps its previous centroid (no 0 / 0)
        nonempty = counts > 0
        means = sums / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
        centroids = torch.where(nonempty[:, None], means, centroids)
    # the assignments of the last assignment step, not recomputed after the last update
    return centroids, assignments
