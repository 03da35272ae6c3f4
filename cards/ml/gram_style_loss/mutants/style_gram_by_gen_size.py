# expect: normalised by the generated map's size
import torch


def gram_matrix(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(gen, style):
    b, c, h, w = gen.shape
    fg = gen.reshape(b, c, -1)
    fs = style.reshape(b, c, -1)
    n = c * h * w  # bug: one divisor for both maps, the generated one's
    diff = torch.bmm(fg, fg.transpose(1, 2)) / n - torch.bmm(fs, fs.transpose(1, 2)) / n
    return diff.pow(2).mean()


def content_loss(gen, target):
    return (gen - target).pow(2).mean()
