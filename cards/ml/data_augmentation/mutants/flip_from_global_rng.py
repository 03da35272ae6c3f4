# expect: every draw must come from `generator`
import torch


def random_crop_flip(images, size, generator):
    h, w = (size, size) if isinstance(size, int) else size
    N, C, H, W = images.shape
    tops = torch.randint(0, H - h + 1, (N,), generator=generator)
    lefts = torch.randint(0, W - w + 1, (N,), generator=generator)
    flips = torch.rand(N) < 0.5  # bug: the flips come from the global RNG
    crops = []
    for i in range(N):
        c = images[i, :, tops[i] : tops[i] + h, lefts[i] : lefts[i] + w]
        crops.append(c.flip(-1) if flips[i] else c)
    return torch.stack(crops)
