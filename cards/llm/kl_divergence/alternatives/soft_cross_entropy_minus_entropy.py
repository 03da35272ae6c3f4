"""Alternative: KL(P||Q) = H(P, Q) - H(P), with the cross-entropy from F.cross_entropy's
probability targets and the entropy from torch.special.xlogy (0 log 0 = 0); Gaussian KL with
the variance ratio as exp(logvar_p - logvar_q)."""

import torch
import torch.nn.functional as F


def kl_divergence(p_logits, q_logits, temperature=1.0):
    c = p_logits.shape[-1]
    # (positions, C), may hold exact zeros
    p = F.softmax(p_logits.reshape(-1, c) / temperature, dim=-1)
    # mean over positions of -sum p log q
    cross = F.cross_entropy(q_logits.reshape(-1, c) / temperature, p)
    entropy = -torch.special.xlogy(p, p).sum(-1).mean()
    return cross - entropy


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    var_ratio = torch.exp(logvar_p - logvar_q)
    mahalanobis = (mu_p - mu_q).pow(2) * torch.exp(-logvar_q)
    return 0.5 * torch.sum(
        var_ratio + mahalanobis - 1.0 - (logvar_p - logvar_q), dim=-1
    )
