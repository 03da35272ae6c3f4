# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def kmeans(x, init_centroids, iters):
    """Lloyd with exact broadcast squared distances (argmin keeps the first,
    i.e. lowest-index, minimum) and the centroid update done as a one-hot
    matrix product; an empty cluster keeps its previous centroid."""
    x = x.detach()
    centroids = init_centroids.detach().to(device=x.device, dtype=x.dtype).clone()
    k = centroids.shape[0]
    assignments = None
    for _ in range(int(iters)):
        d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(dim=-1)  # (n, k)
        assignments = torch.argmin(d2, dim=1)
        onehot = (assignments[:, None] == torch.arange(k, device=x.device)[None, :]).to(
            x.dtype
        )
        counts = onehot.sum(dim=0)  # (k,)
        sums = onehot.t() @ x  # (k, d)
        nonempty = counts > 0
        means = sums / counts.clamp(min=1)[:, None]
        centroids = torch.where(nonempty[:, None], means, centroids)
    if assignments is None:
        # zero iterations: report the assignment to the initial centroids
        d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(dim=-1)
        assignments = torch.argmin(d2, dim=1)
    return centroids, assignments
