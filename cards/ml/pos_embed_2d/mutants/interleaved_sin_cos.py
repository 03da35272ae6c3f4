# expect: sin and cos are interleaved
import torch


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    q = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float64) / q)
    i, j = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    out = []
    for pos in (j.flatten().double(), i.flatten().double()):
        ang = torch.outer(pos, omega)
        # bug: the 1-D transformer's pe[:, 0::2] = sin, pe[:, 1::2] = cos layout
        out.append(torch.stack([ang.sin(), ang.cos()], -1).flatten(1))
    return torch.cat(out, 1).float()
