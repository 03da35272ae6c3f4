# expect: divided by H*W only
def gram_matrix(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)  # bug: C*H*W


def style_loss(gen, style):
    return (gram_matrix(gen) - gram_matrix(style)).pow(2).mean()


def content_loss(gen, target):
    return (gen - target).pow(2).mean()
