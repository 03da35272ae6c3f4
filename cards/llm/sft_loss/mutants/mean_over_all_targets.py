# expect: the prompt tokens were counted in the mean's denominator
import torch
import torch.nn.functional as F


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    keep = (positions >= lengths)[:, 1:]
    per_token = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, V), input_ids[:, 1:].reshape(-1), reduction="none"
    )
    return (per_token * keep.reshape(-1)).mean()  # bug: divides by every target
