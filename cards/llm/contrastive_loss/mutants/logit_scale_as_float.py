# expect: no gradient reached logit_scale
import torch
import torch.nn.functional as F


def clip_loss(image_embeds, text_embeds, logit_scale):
    import math

    scale = math.exp(logit_scale.item())  # bug: a Python float, the temperature never learns
    image = F.normalize(image_embeds, dim=-1)
    text = F.normalize(text_embeds, dim=-1)
    logits = scale * text @ image.T
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
