"""The causal language-modelling loss (next-token cross-entropy), as Hugging Face's
ForCausalLMLoss behind LlamaForCausalLM(input_ids, labels=...).loss.

Left out: num_items_in_batch (the denominator across gradient-accumulation steps), pre-shifted
labels and label smoothing.
"""

import torch
import torch.nn.functional as F


def causal_lm_loss(
    logits: torch.Tensor, input_ids: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    vocab = logits.shape[-1]
    # The shift: position t predicts token t + 1; the last position has no target.
    predictions = logits[:, :-1, :].float()  # (B, T - 1, V), upcast as HF does
    targets = input_ids[:, 1:]  # (B, T - 1)
    # reshape, not view: the slice is not contiguous. One mean over every counted target.
    return F.cross_entropy(
        predictions.reshape(-1, vocab),
        targets.reshape(-1),
        ignore_index=ignore_index,
    )
