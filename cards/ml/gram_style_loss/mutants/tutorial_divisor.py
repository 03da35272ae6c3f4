# expect: divided by B*C*H*W
def gram_matrix(features):
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    # bug: the tutorial's a * b * c * d divisor counts the batch too
    return f @ f.transpose(1, 2) / (b * c * h * w)


def style_loss(gen, style):
    return (gram_matrix(gen) - gram_matrix(style)).pow(2).mean()


def content_loss(gen, target):
    return (gen - target).pow(2).mean()
