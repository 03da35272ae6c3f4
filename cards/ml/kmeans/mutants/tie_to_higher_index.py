# expect: a distance tie went to the higher centroid index
import torch


def kmeans(x, init_centroids, iters):
    c = init_centroids.clone()
    k = c.shape[0]
    for _ in range(iters):
        best = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
        a = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
        for j in range(k):
            d = ((x - c[j]) ** 2).sum(1)
            closer = d <= best  # bug: <= lets a later centroid win a tie
            best = torch.where(closer, d, best)
            a = torch.where(closer, torch.full_like(a, j), a)
        new = c.clone()
        for j in range(k):
            if (a == j).any():
                new[j] = x[a == j].mean(0)
        c = new
    return c, a
