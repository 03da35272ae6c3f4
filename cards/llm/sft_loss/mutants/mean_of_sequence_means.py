# expect: a mean of the per-sequence means
import torch
import torch.nn.functional as F


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    targets = input_ids[:, 1:]
    keep = positions[:, 1:] >= lengths
    per_token = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, reduction="none"
    )  # (B, T - 1)
    per_seq = (per_token * keep).sum(1) / keep.sum(1).clamp(min=1)
    return per_seq[keep.any(1)].mean()  # bug: every sequence weighs the same
