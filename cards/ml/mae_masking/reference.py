"""MAE random masking (He et al., 2022, "Masked Autoencoders Are Scalable Vision Learners"), as
transformers' ViTMAEEmbeddings.random_masking: per-sample shuffling by argsort of uniform noise.
"""

import torch


def random_masking(
    x: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
):
    B, L, D = x.shape
    # exactly MAE's rounding (floor of a float product)
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # the inverse permutation
    ids_keep = ids_shuffle[:, :len_keep]  # kept in ascending-noise order, not re-sorted
    x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))
    # 1 = removed: mark in shuffled order, then unshuffle to the original positions.
    mask = torch.ones(B, L, device=x.device)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return x_masked, mask, ids_restore
