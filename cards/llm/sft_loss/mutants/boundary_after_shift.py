# expect: the first response token
import torch
import torch.nn.functional as F


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    targets = input_ids[:, 1:]
    # bug: the mask is built on the shifted positions, so target j counts iff j - 1 >= length
    keep = positions[:, :-1] >= lengths
    labels = targets.masked_fill(~keep, -100)
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, V), labels.reshape(-1))
