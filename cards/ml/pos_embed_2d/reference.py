"""2-D sin-cos position embeddings as the original MAE code lays them out (He et al., 2022):
half the channels encode the column, half the row, each half [sin | cos] of D/4 frequencies."""

import torch


def sincos_2d_pos_embed(embed_dim: int, grid_h: int, grid_w: int) -> torch.Tensor:
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    # indexing="ij": i varies slowest, so row i * grid_w + j of the flattened grid is (i, j).
    i, j = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float64),
        torch.arange(grid_w, dtype=torch.float64),
        indexing="ij",
    )
    col = torch.outer(j.flatten(), omega)  # MAE's first half encodes the column index
    row = torch.outer(i.flatten(), omega)
    return torch.cat([col.sin(), col.cos(), row.sin(), row.cos()], dim=1).float()
