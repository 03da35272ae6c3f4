# Another style, by the card's author:
# torch.sort for the permutation, advanced indexing for the kept tokens, the inverse permutation
# and the mask by scatter.
import torch


def random_masking(x, mask_ratio, noise=None):
    B, L, _ = x.shape
    keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    _, order = torch.sort(noise, dim=1)
    rows = torch.arange(B, device=x.device)[:, None]
    x_masked = x[rows, order[:, :keep]]
    ranks = torch.arange(L, device=x.device).expand(B, L)
    ids_restore = torch.empty_like(order).scatter_(1, order, ranks)
    mask = torch.zeros(B, L, dtype=torch.float32, device=x.device)
    mask.scatter_(1, order[:, keep:], 1.0)
    return x_masked, mask, ids_restore
