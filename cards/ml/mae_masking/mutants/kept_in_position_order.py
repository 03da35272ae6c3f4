# expect: the kept patches are in their original position order
import torch


def random_masking(x, mask_ratio, noise=None):
    B, L, D = x.shape
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = (ids_restore >= len_keep).float()
    # bug: boolean indexing keeps the patches in their original order
    x_masked = x[mask == 0].reshape(B, len_keep, D)
    return x_masked, mask, ids_restore
