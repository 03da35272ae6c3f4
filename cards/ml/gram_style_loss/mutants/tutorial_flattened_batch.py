# expect: the batch was flattened into the channels
def gram_matrix(features):
    a, b, c, d = features.shape
    f = features.view(a * b, c * d)  # bug: mixes the samples into one (B*C, B*C) matrix
    return f @ f.t() / (b * c * d)


def style_loss(gen, style):
    return (gram_matrix(gen) - gram_matrix(style)).pow(2).mean()


def content_loss(gen, target):
    return (gen - target).pow(2).mean()
