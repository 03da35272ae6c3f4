# expect: the rows are in column-major order
import torch


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    q = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / q)
    # bug: numpy's meshgrid(w, h) copied with torch's default "ij" indexing: (grid_w, grid_h)
    grid = torch.meshgrid(torch.arange(grid_w), torch.arange(grid_h))
    col = torch.outer(grid[0].flatten().double(), omega)
    row = torch.outer(grid[1].flatten().double(), omega)
    return torch.cat([col.sin(), col.cos(), row.sin(), row.cos()], 1).float()
