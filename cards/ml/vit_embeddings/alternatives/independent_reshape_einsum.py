# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
from torch import nn


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class _Projection(nn.Module):
    """Patch projection with a kernel-shaped weight (hidden, C, ph, pw), applied as a matmul."""

    def __init__(self, num_channels, hidden_size, patch_size):
        super().__init__()
        ph, pw = patch_size
        self.weight = nn.Parameter(torch.empty(hidden_size, num_channels, ph, pw))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        nn.init.trunc_normal_(self.weight, std=0.02)


class _PatchEmbeddings(nn.Module):
    def __init__(self, image_size, patch_size, num_channels, hidden_size):
        super().__init__()
        self.image_size = _pair(image_size)
        self.patch_size = _pair(patch_size)
        self.num_channels = num_channels
        self.grid = (
            self.image_size[0] // self.patch_size[0],
            self.image_size[1] // self.patch_size[1],
        )
        self.num_patches = self.grid[0] * self.grid[1]
        self.projection = _Projection(num_channels, hidden_size, self.patch_size)

    def forward(self, pixel_values):
        Bsz, C, H, W = pixel_values.shape
        if C != self.num_channels:
            raise ValueError(f"expected {self.num_channels} channels, got {C}")
        ph, pw = self.patch_size
        gh, gw = H // ph, W // pw
        x = pixel_values[:, :, : gh * ph, : gw * pw]
        # (B, C, gh, ph, gw, pw) -> patches (B, gh, gw, C, ph, pw)
        x = x.reshape(Bsz, C, gh, ph, gw, pw).permute(0, 2, 4, 1, 3, 5)
        w = self.projection.weight
        out = torch.einsum("bijcyx,hcyx->bijh", x, w) + self.projection.bias
        return out.reshape(Bsz, gh * gw, -1)


class ViTEmbeddings(nn.Module):
    def __init__(self, image_size, patch_size, num_channels, hidden_size, dropout=0.0):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, hidden_size))
        self.patch_embeddings = _PatchEmbeddings(
            image_size, patch_size, num_channels, hidden_size
        )
        self.position_embeddings = nn.Parameter(
            torch.randn(1, self.patch_embeddings.num_patches + 1, hidden_size)
        )
        self.dropout = nn.Dropout(dropout)
        self.image_size = self.patch_embeddings.image_size
        self.patch_size = self.patch_embeddings.patch_size

    def forward(self, pixel_values):
        _, _, H, W = pixel_values.shape
        if (H, W) != tuple(self.image_size):
            raise ValueError(
                f"Input image size ({H}*{W}) doesn't match model ({self.image_size[0]}*{self.image_size[1]})."
            )
        patches = self.patch_embeddings(pixel_values)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        x = torch.cat([cls, patches], dim=1) + self.position_embeddings
        return self.dropout(x)
