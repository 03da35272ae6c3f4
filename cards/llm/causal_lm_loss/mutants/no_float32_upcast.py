# expect: upcast the logits to float32
import torch
import torch.nn.functional as F


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    V = logits.shape[-1]
    pred = logits[:, :-1].reshape(-1, V)  # bug: stays in float16 / bfloat16
    return F.cross_entropy(pred, input_ids[:, 1:].reshape(-1), ignore_index=ignore_index)
