# expect: the mask was left in shuffled order
import torch


def random_masking(x, mask_ratio, noise=None):
    B, L, D = x.shape
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    x_masked = torch.gather(x, 1, ids_shuffle[:, :len_keep, None].expand(-1, -1, D))
    mask = torch.ones(B, L, device=x.device)
    mask[:, :len_keep] = 0  # bug: never gathered back with ids_restore
    return x_masked, mask, ids_restore
