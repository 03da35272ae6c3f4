"""The SFT loss: the causal LM loss with the prompt masked out, so that only the response
tokens are learned (as in InstructGPT-style supervised fine-tuning and TRL's completion-only
training).

Left out: padding / attention masks, packed sequences and multi-turn masks.
"""

import torch
import torch.nn.functional as F


def sft_loss(
    logits: torch.Tensor, input_ids: torch.Tensor, prompt_lengths
) -> torch.Tensor:
    B, T, V = logits.shape
    lengths = torch.as_tensor(prompt_lengths, device=input_ids.device).reshape(B, 1)
    positions = torch.arange(T, device=input_ids.device).reshape(1, T)
    # Mask the prompt in the labels, at the targets' own positions: token j counts iff
    # j >= prompt length. Masking after the shift instead would be off by one.
    labels = input_ids.masked_fill(positions < lengths, -100)  # (B, T), a new tensor
    predictions = logits[:, :-1].float()  # position t predicts token t + 1
    targets = labels[:, 1:]
    # One mean over every counted token of the batch (ignore_index drops the prompt).
    return F.cross_entropy(
        predictions.reshape(-1, V), targets.reshape(-1), ignore_index=-100
    )
