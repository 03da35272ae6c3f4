"""Tensor.unfold twice to cut patches, then a Python loop over the patch grid in row-major order,
each patch projected with a tensordot against the conv-shaped weight; dropout by hand with a
Bernoulli mask."""

import torch
from torch import nn


class Proj(nn.Module):
    def __init__(self, h, c, p):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(h, c, p, p).uniform_(-0.1, 0.1))
        self.bias = nn.Parameter(torch.empty(h).uniform_(-0.1, 0.1))


class Holder(nn.Module):
    def __init__(self, h, c, p):
        super().__init__()
        self.projection = Proj(h, c, p)


class ViTEmbeddings(nn.Module):
    def __init__(self, image_size, patch_size, num_channels, hidden_size, dropout=0.0):
        super().__init__()
        self.p, self.g, self.rate = patch_size, image_size // patch_size, dropout
        self.cls_token = nn.Parameter(torch.randn(1, 1, hidden_size) * 0.02)
        self.position_embeddings = nn.Parameter(
            torch.randn(1, self.g**2 + 1, hidden_size) * 0.02
        )
        self.patch_embeddings = Holder(hidden_size, num_channels, patch_size)

    def forward(self, pixel_values):
        p = self.p
        # (B, C, g, g, p, p): dims 2, 3 index the patch, 4, 5 the pixel inside it
        tiles = pixel_values.unfold(2, p, p).unfold(3, p, p)
        w, b = (
            self.patch_embeddings.projection.weight,
            self.patch_embeddings.projection.bias,
        )
        tokens = [self.cls_token.expand(pixel_values.shape[0], 1, -1)]
        for r in range(self.g):
            for c in range(self.g):
                patch = tiles[:, :, r, c]  # (B, C, p, p)
                tokens.append(
                    (torch.tensordot(patch, w, dims=([1, 2, 3], [1, 2, 3])) + b)[
                        :, None
                    ]
                )
        out = torch.cat(tokens, dim=1) + self.position_embeddings
        if self.training and self.rate > 0:
            keep = torch.rand_like(out) >= self.rate
            out = out * keep / (1 - self.rate) if self.rate < 1 else out * 0
        return out
