"""einsum for the Gram matrix; the losses as a sum of squares over the element count."""

import torch


def gram_matrix(features):
    n = features[0].numel()  # C*H*W
    return torch.einsum("bchw,bdhw->bcd", features, features) / n


def style_loss(gen, style):
    d = gram_matrix(gen) - gram_matrix(style)
    return (d * d).sum() / d.numel()


def content_loss(gen, target):
    d = gen - target
    return (d * d).sum() / d.numel()
