# By the card's author.
# For each image in turn, the crop origin as floor(u * count) from uniform draws and the flip as
# u < 0.5, drawn image by image; crops flipped with torch.flip on the width dim, written into a
# preallocated output.
import torch


def random_crop_flip(images, size, generator):
    if isinstance(size, (tuple, list)):
        ch, cw = int(size[0]), int(size[1])
    else:
        ch = cw = int(size)
    n, c, H, W = images.shape
    result = torch.empty((n, c, ch, cw), dtype=images.dtype, device=images.device)
    ny, nx = H - ch + 1, W - cw + 1
    for k in range(n):
        u = torch.rand(3, generator=generator, dtype=torch.float64)
        y0 = min(int(u[0] * ny), ny - 1)
        x0 = min(int(u[1] * nx), nx - 1)
        patch = images[k, :, y0 : y0 + ch, x0 : x0 + cw]
        if u[2] < 0.5:
            patch = torch.flip(patch, dims=[-1])
        result[k].copy_(patch)
    return result
