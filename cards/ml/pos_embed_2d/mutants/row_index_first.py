# expect: the row index i fills the first half
import torch


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    q = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / q)
    i, j = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    row = torch.outer(i.flatten().double(), omega)
    col = torch.outer(j.flatten().double(), omega)
    # bug: the canonical [h | w] order, not MAE's [w | h]
    return torch.cat([row.sin(), row.cos(), col.sin(), col.cos()], 1).float()
