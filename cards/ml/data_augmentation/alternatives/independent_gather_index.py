# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def _size2(size):
    if isinstance(size, int):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def random_crop_flip(images, size, generator):
    """Vectorised: draw every crop corner and flip bit up front, build per-image
    row/column index grids (columns reversed where flipped) and gather all crops
    with one advanced-indexing read. The result is a new tensor."""
    if images.dim() != 4:
        raise ValueError("images must be (N, C, H, W)")
    N, _C, H, W = images.shape
    h, w = _size2(size)
    if h > H or w > W or h < 1 or w < 1:
        raise ValueError(f"crop size {(h, w)} does not fit images of size {(H, W)}")
    gdev = generator.device if generator is not None else torch.device("cpu")
    # uniform over the H - h + 1 (resp. W - w + 1) positions, both ends included
    top = torch.randint(0, H - h + 1, (N,), generator=generator, device=gdev)
    left = torch.randint(0, W - w + 1, (N,), generator=generator, device=gdev)
    flip = torch.rand(N, generator=generator, device=gdev) < 0.5
    dev = images.device
    top, left, flip = top.to(dev), left.to(dev), flip.to(dev)
    ar_h = torch.arange(h, device=dev)
    ar_w = torch.arange(w, device=dev)
    # (N, w)
    col_offsets = torch.where(flip[:, None], (w - 1 - ar_w)[None, :], ar_w[None, :])
    rows = top[:, None] + ar_h[None, :]  # (N, h)
    cols = left[:, None] + col_offsets  # (N, w)
    n_idx = torch.arange(N, device=dev)[:, None, None]
    crops = images[n_idx, :, rows[:, :, None], cols[:, None, :]]  # (N, h, w, C)
    return crops.permute(0, 3, 1, 2).contiguous()
