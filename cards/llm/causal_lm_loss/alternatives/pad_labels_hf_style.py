"""Hugging Face's way: keep every logit, shift the labels left by padding them with
ignore_index at the end, so the last position has nothing to predict."""

import torch.nn.functional as F


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    logits = logits.float()
    labels = F.pad(input_ids, (0, 1), value=ignore_index)[:, 1:]
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        labels.reshape(-1),
        ignore_index=ignore_index,
    )
