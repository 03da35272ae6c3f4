# Written independently of this card's verifier, from the contract alone.
# DPO with the loss written as softplus(-z) = max(-z, 0) + log1p(exp(-|z|)) by hand (no logsigmoid),
# label smoothing as the conservative-DPO mix; sequence_logps by a float32 log-sum-exp minus the
# picked logit, shifted by one with the labels padded by ignore_index at the end (HF style).
import torch


def _softplus(x):
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))


def dpo_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    beta=0.1,
    label_smoothing=0.0,
):
    chosen_ratio = policy_chosen_logps - reference_chosen_logps
    rejected_ratio = policy_rejected_logps - reference_rejected_logps
    z = beta * (chosen_ratio - rejected_ratio)
    # -log sigmoid(z) = softplus(-z); -log sigmoid(-z) = softplus(z)
    losses = (1 - label_smoothing) * _softplus(-z) + label_smoothing * _softplus(z)
    return losses, (beta * chosen_ratio).detach(), (beta * rejected_ratio).detach()


def sequence_logps(logits, labels, ignore_index=-100):
    B, _T, _V = logits.shape
    pad = torch.full((B, 1), ignore_index, dtype=labels.dtype, device=labels.device)
    # the label for position t is token t+1
    tgt = torch.cat([labels[:, 1:], pad], dim=1)
    keep = tgt != ignore_index
    # card: keep float64
    x = logits if logits.dtype == torch.float64 else logits.float()
    m = x.amax(-1, keepdim=True)
    lse = (x - m).exp().sum(-1).log() + m.squeeze(-1)
    picked = x.gather(-1, tgt.masked_fill(~keep, 0).unsqueeze(-1)).squeeze(-1)
    return ((picked - lse) * keep).sum(-1)
