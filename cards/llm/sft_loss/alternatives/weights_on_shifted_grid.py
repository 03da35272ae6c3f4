"""A float weight per shifted target (1 for response, 0 for prompt), built from the shifted
positions with the boundary moved by one, and a weighted average of per-token losses."""

import torch
import torch.nn.functional as F


def sft_loss(logits, input_ids, prompt_lengths):
    T = logits.shape[1]
    if not isinstance(prompt_lengths, torch.Tensor):
        prompt_lengths = torch.tensor(list(prompt_lengths))
    lengths = prompt_lengths.to(logits.device).long()
    # shifted index i holds target i + 1, which counts iff i + 1 >= length
    weights = (
        torch.arange(T - 1, device=logits.device)[None, :] + 1 >= lengths[:, None]
    ).float()
    # (B, T - 1)
    per_token = F.cross_entropy(
        logits[:, :-1].float().permute(0, 2, 1), input_ids[:, 1:], reduction="none"
    )
    return (per_token * weights).sum() / weights.sum()
