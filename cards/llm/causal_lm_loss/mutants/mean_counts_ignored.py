# expect: ignored targets were counted in the mean's denominator
import torch
import torch.nn.functional as F


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    V = logits.shape[-1]
    pred = logits[:, :-1].float().reshape(-1, V)
    per_token = F.cross_entropy(
        pred, input_ids[:, 1:].reshape(-1), ignore_index=ignore_index, reduction="none"
    )
    return per_token.mean()  # bug: the zeros of ignored targets are averaged in
