"""One sample at a time with torch.mm, stacked; squared differences averaged with torch.mean."""

import torch


def gram_matrix(features):
    grams = []
    for sample in features:
        c = sample.shape[0]
        f = sample.flatten(1)
        grams.append(torch.mm(f, f.t()).div(c * f.shape[1]))
    return torch.stack(grams)


def style_loss(gen, style):
    return torch.mean(torch.square(gram_matrix(gen) - gram_matrix(style)))


def content_loss(gen, target):
    return torch.mean(torch.square(gen - target))
