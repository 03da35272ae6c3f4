"""Plain Python loops with the math module, every value in double precision, filled into a
float32 tensor row by row."""

import math

import torch


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    q = embed_dim // 4
    omegas = [10000.0 ** (-k / q) for k in range(q)]
    rows = []
    for i in range(grid_h):
        for j in range(grid_w):
            rows.append(
                [math.sin(j * w) for w in omegas]
                + [math.cos(j * w) for w in omegas]
                + [math.sin(i * w) for w in omegas]
                + [math.cos(i * w) for w in omegas]
            )
    return torch.tensor(rows, dtype=torch.float32).reshape(grid_h * grid_w, embed_dim)
