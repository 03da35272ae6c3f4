"""KL divergence between categoricals given as logits, and the closed-form KL between diagonal
Gaussians (Kingma & Welling 2014, the VAE term). The distillation loss built on the first has
its own card, knowledge_distillation.

Left out: other reductions ("sum", "none"), masking of padded positions, other divergences (JS,
reverse KL) and full-covariance Gaussians.
"""

import torch
import torch.nn.functional as F


def kl_divergence(
    p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    # The subtlety: stay in log space. log(softmax(x)) gives log(0) = -inf once a probability
    # underflows (large logits), and 0 * -inf = NaN; log_softmax never does.
    log_p = F.log_softmax(p_logits / temperature, dim=-1)  # (..., C)
    log_q = F.log_softmax(q_logits / temperature, dim=-1)  # (..., C)
    # (...)  KL(P||Q): expectation under P
    per_position = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
    # "batchmean": divide by the number of positions, not by C too
    return per_position.mean()


def gaussian_kl(
    mu_p: torch.Tensor,
    logvar_p: torch.Tensor,
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
) -> torch.Tensor:
    # Per dimension: log(s_q/s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2, with log s^2 given.
    # (..., D)
    per_dim = 0.5 * (
        logvar_q - logvar_p + (logvar_p.exp() + (mu_p - mu_q) ** 2) / logvar_q.exp() - 1
    )
    return per_dim.sum(dim=-1)  # (...)
