import torch.nn.functional as F


def kl_divergence(p_logits, q_logits, temperature=1.0):
    lp = F.log_softmax(p_logits / temperature, -1)
    lq = F.log_softmax(q_logits / temperature, -1)
    kl = (lp.exp() * (lp - lq)).sum(-1)
    return kl.mean()


def gaussian_kl(mu_p, logvar_p, mu_q, logvar_q):
    return 0.5 * (
        logvar_q - logvar_p + (logvar_p.exp() + (mu_p - mu_q) ** 2) / logvar_q.exp() - 1
    ).sum(-1)
