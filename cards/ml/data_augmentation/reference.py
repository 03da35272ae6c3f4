"""Random crop + random horizontal flip, the standard image-classification augmentation
(torchvision's RandomCrop and RandomHorizontalFlip), per image, from an explicit generator."""

import torch


def random_crop_flip(images, size, generator):
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    N, C, H, W = images.shape
    # Both ends included: top in [0, H - h], so randint's exclusive high is H - h + 1.
    # Draws on the CPU from the caller's generator, one set per image.
    tops = torch.randint(0, H - h + 1, (N,), generator=generator).tolist()
    lefts = torch.randint(0, W - w + 1, (N,), generator=generator).tolist()
    flips = (torch.rand(N, generator=generator) < 0.5).tolist()
    out = images.new_empty((N, C, h, w))  # a new tensor: the input is never written
    for i in range(N):
        crop = images[i, :, tops[i] : tops[i] + h, lefts[i] : lefts[i] + w]
        out[i] = crop.flip(-1) if flips[i] else crop  # horizontal: the width axis
    return out
