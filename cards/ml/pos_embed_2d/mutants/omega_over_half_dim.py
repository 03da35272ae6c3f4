# expect: the frequencies run over D/2
import torch


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    q = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / (embed_dim / 2))  # bug
    i, j = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    col = torch.outer(j.flatten().double(), omega)
    row = torch.outer(i.flatten().double(), omega)
    return torch.cat([col.sin(), col.cos(), row.sin(), row.cos()], 1).float()
