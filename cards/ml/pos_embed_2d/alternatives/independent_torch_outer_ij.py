# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    """2-D sin-cos position embedding, MAE layout: [sin(j w) | cos(j w) | sin(i w) | cos(i w)],
    computed in float64 with torch and returned as float32."""
    if embed_dim % 4 != 0:
        raise ValueError("embed_dim must be divisible by 4")
    quarter = embed_dim // 4
    k = torch.arange(quarter, dtype=torch.float64)
    omega = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -k / quarter)
    ii, jj = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float64),
        torch.arange(grid_w, dtype=torch.float64),
        indexing="ij",
    )
    i = ii.reshape(-1)
    j = jj.reshape(-1)
    aj = torch.outer(j, omega)
    ai = torch.outer(i, omega)
    out = torch.cat([aj.sin(), aj.cos(), ai.sin(), ai.cos()], dim=1)
    return out.to(torch.float32)
