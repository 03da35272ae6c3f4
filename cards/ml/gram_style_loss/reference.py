"""Gram matrices and the style and content losses of neural style transfer (Gatys et al., 2016).

Each sample's Gram matrix is normalised by its own C*H*W, so maps of different sizes compare."""

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    b, c, h, w = features.shape
    # per sample: the batch never mixes into the channels
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(gen: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return (gram_matrix(gen) - gram_matrix(style)).pow(2).mean()


def content_loss(gen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (gen - target).pow(2).mean()
