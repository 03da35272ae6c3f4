# expect: uses banned `torch.nn.functional.kl_div`
import torch
from torch.nn import functional as G


def kl_divergence(p_logits, q_logits, temperature=1.0):
    c = p_logits.shape[-1]
    log_p = G.log_softmax(p_logits.reshape(-1, c) / temperature, dim=-1)
    log_q = G.log_softmax(q_logits.reshape(-1, c) / temperature, dim=-1)
    return G.kl_div(
        log_q, log_p, reduction="batchmean", log_target=True
    )  # bug: dodge, the banned API via an alias


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    return 0.5 * (
        logvar_q - logvar_p + (logvar_p.exp() + (mu_p - mu_q) ** 2) / logvar_q.exp() - 1
    ).sum(-1)
