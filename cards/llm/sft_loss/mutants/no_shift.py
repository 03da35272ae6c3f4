# expect: the shift by one is missing
import torch
import torch.nn.functional as F


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    labels = input_ids.masked_fill(positions < lengths, -100)
    # bug: each position is scored against its own token
    return F.cross_entropy(logits.float().reshape(-1, V), labels.reshape(-1))
