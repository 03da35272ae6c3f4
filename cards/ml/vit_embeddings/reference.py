"""ViT embeddings (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"), as transformers'
ViTEmbeddings: patchify by reshape, a linear projection with a conv-shaped weight, the class
token in front, learned position embeddings, dropout.

Left out: the mask token (BEiT / SimMIM) and position-embedding interpolation.
"""

import torch
from torch import nn


class _Projection(nn.Module):
    """Holds the patch projection with the conv weight's shape (H, C, p, p)."""

    def __init__(self, num_channels, hidden_size, patch_size):
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(hidden_size, num_channels, patch_size, patch_size) * 0.02
        )
        self.bias = nn.Parameter(torch.zeros(hidden_size))


class _PatchEmbeddings(nn.Module):
    def __init__(self, num_channels, hidden_size, patch_size):
        super().__init__()
        self.projection = _Projection(num_channels, hidden_size, patch_size)


class ViTEmbeddings(nn.Module):
    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_channels: int,
        hidden_size: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.grid = image_size // patch_size
        n = self.grid * self.grid
        self.cls_token = nn.Parameter(torch.randn(1, 1, hidden_size))
        self.patch_embeddings = _PatchEmbeddings(num_channels, hidden_size, patch_size)
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, hidden_size))
        self.dropout = nn.Dropout(dropout)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        B, C = pixel_values.shape[:2]
        p, g = self.patch_size, self.grid
        # Crop first: pixels that do not fill a whole patch are dropped, as a stride-p conv does.
        x = pixel_values[:, :, : g * p, : g * p]
        # (B, C, g, p, g, p) -> (B, g_row, g_col, C, p, p): row-major patches, each flattened
        # in (channel, row, col) order, the order of the conv weight's (C, p, p).
        x = x.reshape(B, C, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, -1)
        proj = self.patch_embeddings.projection
        x = x @ proj.weight.reshape(proj.weight.shape[0], -1).T + proj.bias
        cls = self.cls_token.expand(B, -1, -1)
        # row 0: the class token
        x = torch.cat([cls, x], dim=1) + self.position_embeddings
        return self.dropout(x)
