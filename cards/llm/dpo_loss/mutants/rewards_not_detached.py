# expect: the rewards must be detached
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
    z = beta * (
        (policy_chosen_logps - policy_rejected_logps)
        - (reference_chosen_logps - reference_rejected_logps)
    )
    losses = -F.logsigmoid(z) * (1 - label_smoothing) - F.logsigmoid(-z) * label_smoothing
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)  # bug: not detached
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    return losses, chosen, rejected


def sequence_logps(logits, labels, ignore_index=-100):
    logits, labels = logits[:, :-1], labels[:, 1:]
    mask = labels != ignore_index
    lp = logits.log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (lp * mask).sum(-1)

