"""Alternative: F.normalize (with its eps), one similarity matrix, and the two directions as
log_softmax over its rows and over its columns, reading the diagonal (the positives) without
F.cross_entropy."""

import torch
import torch.nn.functional as F


def clip_loss(image_embeds, text_embeds, logit_scale):
    img = F.normalize(image_embeds, p=2, dim=1)
    txt = F.normalize(text_embeds, p=2, dim=1)
    sim = torch.exp(logit_scale) * (img @ txt.t())  # (N, N): image i vs text j
    i2t = -torch.diagonal(F.log_softmax(sim, dim=1)).mean()  # each image picks its text
    t2i = -torch.diagonal(F.log_softmax(sim, dim=0)).mean()  # each text picks its image
    return 0.5 * (i2t + t2i)
