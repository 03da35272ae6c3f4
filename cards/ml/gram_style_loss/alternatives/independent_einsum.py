# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def gram_matrix(features):
    """Per-sample Gram matrix with einsum over the spatial positions,
    normalised by C*H*W."""
    _B, C, H, W = features.shape
    G = torch.einsum("bchw,bdhw->bcd", features, features)
    return G / (C * H * W)


def _mean_sq(diff):
    # mean of squared entries, written as a dot product with itself
    flat = diff.reshape(-1)
    return torch.dot(flat, flat) / flat.numel()


def style_loss(gen, style):
    gg = gram_matrix(gen)
    gs = gram_matrix(style)
    diff = gg - gs  # broadcasts if style has batch 1
    return _mean_sq(diff).to(gen.dtype)


def content_loss(gen, target):
    diff = gen - target
    return _mean_sq(diff).to(gen.dtype)
