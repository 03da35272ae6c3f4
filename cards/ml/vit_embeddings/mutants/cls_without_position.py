# expect: the class token got no position embedding
import torch
import torch.nn.functional as F
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
        cols = F.unfold(pixel_values, self.p, stride=self.p).transpose(1, 2)
        w = self.patch_embeddings.projection.weight
        x = cols @ w.flatten(1).T + self.patch_embeddings.projection.bias
        # bug: positions added to the patches only; the class token is prepended afterwards
        x = x + self.position_embeddings[:, 1:]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        return self.dropout(x)
