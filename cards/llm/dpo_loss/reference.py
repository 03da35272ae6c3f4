"""Direct Preference Optimization (Rafailov et al., 2023, "Direct Preference Optimization: Your
Language Model is Secretly a Reward Model"), the sigmoid loss of TRL's DPOTrainer with its
label smoothing (conservative DPO), and the summed log-probabilities of a sequence.

Left out: the other DPO variants (IPO, hinge, robust, ...), reference-free DPO, length
normalisation and the model forward passes that produce the log-probabilities.
"""

import torch
import torch.nn.functional as F


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
):
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    ref_logratios = reference_chosen_logps - reference_rejected_logps
    z = beta * (pi_logratios - ref_logratios)  # (B,)
    # logsigmoid, not log(sigmoid(z)): sigmoid underflows to 0 for z << 0 and log(0) = -inf.
    losses = (
        -F.logsigmoid(z) * (1 - label_smoothing) - F.logsigmoid(-z) * label_smoothing
    )
    chosen_rewards = beta * (policy_chosen_logps - reference_chosen_logps).detach()
    rejected_rewards = (
        beta * (policy_rejected_logps - reference_rejected_logps).detach()
    )
    return losses, chosen_rewards, rejected_rewards


def sequence_logps(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    # The shift: the logits at t predict the token at t + 1.
    logits = logits[:, :-1, :]  # (B, T-1, V)
    labels = labels[:, 1:]  # (B, T-1)
    mask = labels != ignore_index
    # gather cannot index with -100: point ignored positions at token 0, then mask them out.
    safe = labels.masked_fill(~mask, 0)
    # (B, T-1)
    per_token = logits.log_softmax(-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (per_token * mask).sum(-1)
