# expect: a mean of the per-sequence means
import torch
import torch.nn.functional as F


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    pred = logits[:, :-1].float()
    targets = input_ids[:, 1:]
    keep = targets != ignore_index
    per_token = F.cross_entropy(
        pred.transpose(1, 2), targets, ignore_index=ignore_index, reduction="none"
    )  # (B, T - 1)
    # bug: every sequence weighs the same, however many targets it has
    return (per_token.sum(1) / keep.sum(1)).mean()
