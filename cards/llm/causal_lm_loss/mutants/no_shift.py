# expect: the shift by one is missing
import torch
import torch.nn.functional as F


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    V = logits.shape[-1]
    # bug: each position is scored against its own token
    return F.cross_entropy(
        logits.float().reshape(-1, V), input_ids.reshape(-1), ignore_index=ignore_index
    )
