# expect: applied to p_logits only
import torch
import torch.nn.functional as F


def kl_divergence(
    p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    log_p = F.log_softmax(p_logits / temperature, dim=-1)  # (..., C)
    log_q = F.log_softmax(q_logits, dim=-1)  # bug: Q not tempered
    per_position = (log_p.exp() * (log_p - log_q)).sum(
        dim=-1
    )  # (...)  KL(P||Q): expectation under P
    return (
        per_position.mean()
    )  # "batchmean": divide by the number of positions, not by C too


def gaussian_kl(
    mu_p: torch.Tensor,
    logvar_p: torch.Tensor,
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
) -> torch.Tensor:
    # Per dimension: log(s_q/s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2, with log s^2 given.
    per_dim = 0.5 * (
        logvar_q - logvar_p + (logvar_p.exp() + (mu_p - mu_q) ** 2) / logvar_q.exp() - 1
    )  # (..., D)
    return per_dim.sum(dim=-1)  # (...)
