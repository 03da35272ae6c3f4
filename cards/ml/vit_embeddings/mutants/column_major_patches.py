# expect: the patches are ordered column by column
import torch
from torch import nn


class Proj(nn.Module):
    def __init__(self, h, c, p):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(h, c, p, p) * 0.02)
        self.bias = nn.Parameter(torch.zeros(h))


class Patches(nn.Module):
    def __init__(self, h, c, p):
        super().__init__()
        self.projection = Proj(h, c, p)


class ViTEmbeddings(nn.Module):
    def __init__(self, image_size, patch_size, num_channels, hidden_size, dropout=0.0):
        super().__init__()
        self.p, self.g = patch_size, image_size // patch_size
        self.cls_token = nn.Parameter(torch.randn(1, 1, hidden_size))
        self.patch_embeddings = Patches(hidden_size, num_channels, patch_size)
        self.position_embeddings = nn.Parameter(torch.randn(1, self.g**2 + 1, hidden_size))
        self.dropout = nn.Dropout(dropout)

    def forward(self, pixel_values):
        B, C = pixel_values.shape[:2]
        p, g = self.p, self.g
        x = pixel_values[:, :, : g * p, : g * p].reshape(B, C, g, p, g, p)
        # bug: the column index of the grid is flattened first (column-major tokens)
        x = x.permute(0, 4, 2, 1, 3, 5).reshape(B, g * g, -1)
        w = self.patch_embeddings.projection.weight
        x = x @ w.reshape(w.shape[0], -1).T + self.patch_embeddings.projection.bias
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1) + self.position_embeddings
        return self.dropout(x)
