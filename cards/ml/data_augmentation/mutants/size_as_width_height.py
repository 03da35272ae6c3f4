# expect: size (h, w) is (height, width)
import torch


def random_crop_flip(images, size, generator):
    w, h = (size, size) if isinstance(size, int) else size  # bug: read as (width, height)
    N, C, H, W = images.shape
    tops = torch.randint(0, H - h + 1, (N,), generator=generator)
    lefts = torch.randint(0, W - w + 1, (N,), generator=generator)
    flips = torch.rand(N, generator=generator) < 0.5
    crops = []
    for i in range(N):
        c = images[i, :, tops[i] : tops[i] + h, lefts[i] : lefts[i] + w]
        crops.append(c.flip(-1) if flips[i] else c)
    return torch.stack(crops)
