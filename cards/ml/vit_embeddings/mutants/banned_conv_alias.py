# expect: uses banned
import torch
from torch import nn
from torch.nn import functional as G


class Patches(nn.Module):
    def __init__(self, h, c, p):
        super().__init__()
        self.projection = nn.Conv2d(c, h, p, stride=p)


class ViTEmbeddings(nn.Module):
    def __init__(self, image_size, patch_size, num_channels, hidden_size, dropout=0.0):
        super().__init__()
        self.p = patch_size
        self.cls_token = nn.Parameter(torch.randn(1, 1, hidden_size))
        self.patch_embeddings = Patches(hidden_size, num_channels, patch_size)
        n = (image_size // patch_size) ** 2
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, hidden_size))
        self.dropout = nn.Dropout(dropout)

    def forward(self, pixel_values):
        proj = self.patch_embeddings.projection
        # bug: not from scratch, the convolution does the patchify and projection
        x = G.conv2d(pixel_values, proj.weight, proj.bias, stride=self.p).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        return self.dropout(x + self.position_embeddings)
