# Another style, by the card's author:
# Patches with F.unfold (kernel = stride = p), which drops the pixels that do not fill a patch and
# flattens each patch in (channel, row, col) order; the parameters live in an nn.Conv2d used only as
# a holder (its forward, a convolution, is never called).
import torch
import torch.nn.functional as F
from torch import nn


class _Patches(nn.Module):
    def __init__(self, c, h, p):
        super().__init__()
        self.projection = nn.Conv2d(c, h, kernel_size=p, stride=p)


class ViTEmbeddings(nn.Module):
    def __init__(self, image_size, patch_size, num_channels, hidden_size, dropout=0.0):
        super().__init__()
        self.p = patch_size
        n = (image_size // patch_size) ** 2
        self.patch_embeddings = _Patches(num_channels, hidden_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.position_embeddings = nn.Parameter(torch.zeros(1, n + 1, hidden_size))
        nn.init.trunc_normal_(self.position_embeddings, std=0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, pixel_values):
        w = self.patch_embeddings.projection.weight
        b = self.patch_embeddings.projection.bias
        # (B, C*p*p, N)
        cols = F.unfold(pixel_values, kernel_size=self.p, stride=self.p)
        tokens = torch.einsum("bkn,hk->bnh", cols, w.flatten(1)) + b
        cls = self.cls_token.expand(tokens.shape[0], 1, tokens.shape[2])
        out = torch.cat((cls, tokens), 1)
        return self.drop(out + self.position_embeddings)
