"""One sample at a time in Python: sort the positions by their noise value with sorted(), keep
the first len_keep, and build the inverse permutation and the mask from the ranks."""

import torch


def random_masking(x, mask_ratio, noise=None):
    B, L, _ = x.shape
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    values = noise.detach().cpu().tolist()
    kept, masks, restores = [], [], []
    for b in range(B):
        order = sorted(range(L), key=lambda i: values[b][i])
        rank = [0] * L
        for r, i in enumerate(order):
            rank[i] = r
        idx = torch.tensor(order[:len_keep], dtype=torch.long, device=x.device)
        kept.append(x[b].index_select(0, idx))
        masks.append([1.0 if rank[i] >= len_keep else 0.0 for i in range(L)])
        restores.append(rank)
    x_masked = torch.stack(kept) if B else x[:, :len_keep]
    mask = torch.tensor(masks, dtype=torch.float32, device=x.device).reshape(B, L)
    ids_restore = torch.tensor(restores, dtype=torch.int64, device=x.device).reshape(
        B, L
    )
    return x_masked, mask, ids_restore
