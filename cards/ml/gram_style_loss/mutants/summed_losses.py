# expect: summed, not averaged
def gram_matrix(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(gen, style):
    return (gram_matrix(gen) - gram_matrix(style)).pow(2).sum()  # bug: sum, not mean


def content_loss(gen, target):
    return ((gen - target) ** 2).sum()  # bug: sum, not mean
