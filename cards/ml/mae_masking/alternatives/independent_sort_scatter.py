# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def random_masking(x, mask_ratio, noise=None):
    """MAE random masking: sort by noise, keep the lowest-noise patches; the inverse
    permutation is built with scatter, and the mask is read off it."""
    Bsz, L, _D = x.shape
    len_keep = int(L * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(Bsz, L, device=x.device)
    noise = noise.to(x.device)
    ids_shuffle = torch.sort(noise, dim=1).indices
    ranks = torch.arange(L, device=x.device).unsqueeze(0).expand(Bsz, L)
    ids_restore = torch.empty_like(ids_shuffle).scatter_(1, ids_shuffle, ranks)
    ids_keep = ids_shuffle[:, :len_keep]
    x_masked = x[torch.arange(Bsz, device=x.device).unsqueeze(1), ids_keep]
    mask = (ids_restore >= len_keep).to(torch.float32)
    return x_masked, mask, ids_restore.to(torch.int64)
