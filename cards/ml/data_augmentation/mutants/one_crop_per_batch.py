# expect: every image got the same crop and flip
import torch


def random_crop_flip(images, size, generator):
    h, w = (size, size) if isinstance(size, int) else size
    _, _, H, W = images.shape
    # bug: one position and one flip for the whole batch
    top = int(torch.randint(0, H - h + 1, (1,), generator=generator))
    left = int(torch.randint(0, W - w + 1, (1,), generator=generator))
    out = images[:, :, top : top + h, left : left + w].clone()
    if torch.rand(1, generator=generator).item() < 0.5:
        out = out.flip(-1)
    return out
