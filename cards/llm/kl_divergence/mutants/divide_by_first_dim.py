# expect: division by the first dim only
import torch
import torch.nn.functional as F


def kl_divergence(p_logits, q_logits, temperature=1.0):
    log_p = F.log_softmax(p_logits / temperature, dim=-1)
    log_q = F.log_softmax(q_logits / temperature, dim=-1)
    # bug: torch's "batchmean" habit, divides by size(0) only: right for (B, C), wrong for (B, T, C) and (C,)
    return (log_p.exp() * (log_p - log_q)).sum() / p_logits.shape[0]


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    return (
        0.5
        * (
            logvar_q
            - logvar_p
            + (logvar_p.exp() + (mu_p - mu_q) ** 2) / logvar_q.exp()
            - 1
        )
    ).sum(-1)
