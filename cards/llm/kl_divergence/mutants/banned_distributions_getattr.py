# expect: uses banned `torch.distributions.kl_divergence`
import importlib

import torch
import torch.nn.functional as F

_dist = importlib.import_module("torch." + "distributions")


def kl_divergence(p_logits, q_logits, temperature=1.0):
    log_p = F.log_softmax(p_logits / temperature, dim=-1)
    log_q = F.log_softmax(q_logits / temperature, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    # bug: dodge, torch.distributions reached through importlib and getattr
    p = getattr(_dist, "Normal")(mu_p, (0.5 * logvar_p).exp())
    q = getattr(_dist, "Normal")(mu_q, (0.5 * logvar_q).exp())
    return getattr(_dist, "kl_" + "divergence")(p, q).sum(-1)
