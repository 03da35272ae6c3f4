# expect: modified in place
import torch


def random_crop_flip(images, size, generator):
    h, w = (size, size) if isinstance(size, int) else size
    N, C, H, W = images.shape
    tops = torch.randint(0, H - h + 1, (N,), generator=generator)
    lefts = torch.randint(0, W - w + 1, (N,), generator=generator)
    flips = torch.rand(N, generator=generator) < 0.5
    for i in range(N):
        if flips[i]:
            images[i] = images[i].flip(-1)  # bug: flips the caller's image, then crops it
    crops = []
    for i in range(N):
        left = W - w - lefts[i] if flips[i] else lefts[i]
        crops.append(images[i, :, tops[i] : tops[i] + h, left : left + w])
    return torch.stack(crops)
