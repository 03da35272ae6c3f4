# Another style, by the card's author:
# A 1-D helper [sin | cos] over D/2 channels applied to the column and row coordinates, in float32
# throughout, positions built by repeat_interleave / repeat instead of meshgrid.
import torch


def _one_axis(dim, pos):
    k = torch.arange(dim // 2, dtype=torch.float32)
    omega = torch.pow(10000.0, -k / (dim / 2.0))
    angles = pos[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    rows = torch.arange(grid_h, dtype=torch.float32).repeat_interleave(grid_w)
    cols = torch.arange(grid_w, dtype=torch.float32).repeat(grid_h)
    half = embed_dim // 2
    return torch.cat([_one_axis(half, cols), _one_axis(half, rows)], dim=1)
