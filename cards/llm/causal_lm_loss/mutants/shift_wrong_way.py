# expect: the shift goes the wrong way
import torch
import torch.nn.functional as F


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    V = logits.shape[-1]
    # bug: drops the first logits and the last token instead of the other way round
    pred = logits[:, 1:].float().reshape(-1, V)
    return F.cross_entropy(pred, input_ids[:, :-1].reshape(-1), ignore_index=ignore_index)
