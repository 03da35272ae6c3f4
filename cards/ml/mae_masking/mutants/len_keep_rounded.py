# expect: len_keep is int(L * (1 - mask_ratio))
import torch


def random_masking(x, mask_ratio, noise=None):
    B, L, D = x.shape
    len_keep = L - int(L * mask_ratio)  # bug: counts the removed patches first
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    x_masked = torch.gather(x, 1, ids_shuffle[:, :len_keep, None].expand(-1, -1, D))
    mask = (ids_restore >= len_keep).float()
    return x_masked, mask, ids_restore
