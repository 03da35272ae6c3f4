"""Vectorised: per-image row and column index grids (the column grid reversed for flipped
images), then one advanced-indexing gather for the whole batch. Flips drawn first."""

import torch


def random_crop_flip(images, size, generator):
    if isinstance(size, int):
        size = (size, size)
    h, w = size
    N, C, H, W = images.shape
    flip = torch.randint(0, 2, (N,), generator=generator).bool()
    top = torch.randint(0, H - h + 1, (N,), generator=generator)
    left = torch.randint(0, W - w + 1, (N,), generator=generator)
    cols = torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(0)[None, :], cols[None, :])  # (N, w)
    rows = top[:, None] + torch.arange(h)[None, :]  # (N, h)
    cols = left[:, None] + cols
    dev = images.device
    n_idx = torch.arange(N, device=dev)[:, None, None, None]
    c_idx = torch.arange(C, device=dev)[None, :, None, None]
    r_idx = rows.to(dev)[:, None, :, None]
    k_idx = cols.to(dev)[:, None, None, :]
    return images[n_idx, c_idx, r_idx, k_idx]  # advanced indexing copies
