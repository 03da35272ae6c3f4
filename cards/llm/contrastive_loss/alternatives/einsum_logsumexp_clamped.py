"""Alternative in the style of open_clip's training loop: the scale clamped at 100 as CLIP
does during training (harmless below it), rsqrt normalisation, einsum for the similarities and
a hand-written cross-entropy with logsumexp, image-to-text first."""

import torch


def _xent_diag(logits):
    return (torch.logsumexp(logits, dim=-1) - logits.diagonal()).mean()


def clip_loss(image_embeds, text_embeds, logit_scale):
    scale = logit_scale.exp().clamp(max=100.0)
    img = image_embeds * torch.rsqrt(
        (image_embeds * image_embeds).sum(-1, keepdim=True)
    )
    txt = text_embeds * torch.rsqrt((text_embeds * text_embeds).sum(-1, keepdim=True))
    logits_per_image = scale * torch.einsum("id,jd->ij", img, txt)
    return (_xent_diag(logits_per_image) + _xent_diag(logits_per_image.T)) / 2
