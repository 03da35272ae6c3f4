# expect: uses banned `torch.nn.functional.mse_loss`
from torch.nn.functional import mse_loss as squared_error


def gram_matrix(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(gen, style):
    return squared_error(gram_matrix(gen), gram_matrix(style))  # bug: the banned MSE


def content_loss(gen, target):
    return squared_error(gen, target)


