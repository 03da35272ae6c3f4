# expect: uses banned `transformers`
import torch.nn.functional as F
from transformers.models.clip import modeling_clip as mc  # bug: dodge, CLIP's own loss


def clip_loss(image_embeds, text_embeds, logit_scale):
    image = F.normalize(image_embeds, dim=-1)
    text = F.normalize(text_embeds, dim=-1)
    return mc.image_text_contrastive_loss(logit_scale.exp() * text @ image.T)
