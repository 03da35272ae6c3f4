# expect: modified in place
import torch
import torch.nn.functional as F


def clip_loss(image_embeds, text_embeds, logit_scale):
    image_embeds /= image_embeds.norm(dim=-1, keepdim=True)  # bug: the caller sees unit rows
    text_embeds /= text_embeds.norm(dim=-1, keepdim=True)
    logits = logit_scale.exp() * text_embeds @ image_embeds.T
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
