# expect: the last prompt token (position prompt_length - 1) was counted
import torch
import torch.nn.functional as F


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    # bug: masks the first prompt_length - 1 tokens only
    labels = input_ids.masked_fill(positions < lengths - 1, -100)
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, V), labels[:, 1:].reshape(-1))
