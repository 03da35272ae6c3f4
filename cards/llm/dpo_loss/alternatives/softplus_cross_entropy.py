"""Alternative: -log sigmoid(z) written as softplus(-z), the rewards computed under
torch.no_grad(), and the sequence log-probabilities as minus F.cross_entropy with
ignore_index and reduction="none" (it gives 0 at ignored positions)."""

import torch
import torch.nn.functional as F


def dpo_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    beta=0.1,
    label_smoothing=0.0,
):
    margin = (policy_chosen_logps - reference_chosen_logps) - (
        policy_rejected_logps - reference_rejected_logps
    )
    z = beta * margin
    losses = (1 - label_smoothing) * F.softplus(-z) + label_smoothing * F.softplus(z)
    with torch.no_grad():
        chosen_rewards = beta * (policy_chosen_logps - reference_chosen_logps)
        rejected_rewards = beta * (policy_rejected_logps - reference_rejected_logps)
    return losses, chosen_rewards, rejected_rewards


def sequence_logps(logits, labels, ignore_index=-100):
    # (B, V, T-1), as cross_entropy wants
    shift_logits = logits[:, :-1, :].transpose(1, 2)
    shift_labels = labels[:, 1:]
    nll = F.cross_entropy(
        shift_logits, shift_labels, ignore_index=ignore_index, reduction="none"
    )
    return -nll.sum(dim=1)
