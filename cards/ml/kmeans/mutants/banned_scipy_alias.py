# expect: uses banned `scipy.cluster`
import torch
from scipy.cluster import vq as V


def kmeans(x, init_centroids, iters):
    c, a = V.kmeans2(x.cpu().numpy(), init_centroids.cpu().numpy(), iter=iters, minit="matrix")
    return torch.as_tensor(c, device=x.device), torch.as_tensor(a, device=x.device).long()
