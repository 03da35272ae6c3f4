# expect: only one direction
import torch
import torch.nn.functional as F


def clip_loss(image_embeds, text_embeds, logit_scale):
    image = F.normalize(image_embeds, dim=-1)
    text = F.normalize(text_embeds, dim=-1)
    logits = logit_scale.exp() * image @ text.T
    targets = torch.arange(len(logits), device=logits.device)
    return F.cross_entropy(logits, targets)  # bug: image -> text only
