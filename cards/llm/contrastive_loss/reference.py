"""The CLIP loss (Radford et al., 2021, "Learning Transferable Visual Models From Natural
Language Supervision"): symmetric InfoNCE over the in-batch (image, text) pairs, as
transformers' CLIPModel computes it.

Left out: the encoders and projections, the clamp of the scale at 100, gathering embeddings
across devices (larger negative sets), and SigLIP's sigmoid variant.
"""

import torch
import torch.nn.functional as F


def clip_loss(
    image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    image = image_embeds / image_embeds.norm(dim=-1, keepdim=True)  # (N, D), unit rows
    text = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
    # logit_scale is a log: the learnable temperature stays positive once exponentiated.
    logits_per_text = logit_scale.exp() * text @ image.T  # (N, N): text i vs image j
    targets = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    # The subtlety: both directions, text -> image (rows) and image -> text (columns).
    text_loss = F.cross_entropy(logits_per_text, targets)
    image_loss = F.cross_entropy(logits_per_text.T, targets)
    return (text_loss + image_loss) / 2
