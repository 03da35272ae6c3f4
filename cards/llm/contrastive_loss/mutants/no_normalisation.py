# expect: not L2-normalised
import torch
import torch.nn.functional as F


def clip_loss(image_embeds, text_embeds, logit_scale):
    logits = logit_scale.exp() * text_embeds @ image_embeds.T  # bug: raw dot products
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
