"""Alternative: log sigmoid through torch.logaddexp (log sigmoid(z) = -log(1 + e^-z)), the
rewards with .detach() on the result, and the sequence log-probabilities as the gathered logit
minus logsumexp, zeroed with torch.where at ignored positions, one row at a time."""

import torch


def _log_sigmoid(z):
    return -torch.logaddexp(torch.zeros_like(z), -z)


def dpo_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    beta=0.1,
    label_smoothing=0.0,
):
    pi = policy_chosen_logps - policy_rejected_logps
    ref = reference_chosen_logps - reference_rejected_logps
    z = beta * (pi - ref)
    eps = label_smoothing
    losses = -(1 - eps) * _log_sigmoid(z) - eps * _log_sigmoid(-z)
    chosen = beta * (policy_chosen_logps - reference_chosen_logps)
    rejected = beta * (policy_rejected_logps - reference_rejected_logps)
    return losses, chosen.detach(), rejected.detach()


def sequence_logps(logits, labels, ignore_index=-100):
    rows = []
    for b in range(logits.shape[0]):
        lg = logits[b, :-1]  # (T-1, V): position t predicts token t + 1
        lb = labels[b, 1:]
        keep = lb != ignore_index
        idx = torch.where(keep, lb, torch.zeros_like(lb))
        picked = lg.gather(1, idx[:, None])[:, 0] - torch.logsumexp(lg, dim=-1)
        rows.append(torch.where(keep, picked, torch.zeros_like(picked)).sum())
    return torch.stack(rows)
