# Written independently of this card's verifier, from the contract alone.
# Distillation loss with hand-written log-softmaxes (max-shifted), the KL term as
# sum(xlogy(p_t, p_t) - p_t * log p_s) / N (batchmean; xlogy makes 0 * log 0 = 0), scaled by T^2,
# and the hard-label cross-entropy as the mean of -log p_s[label] at temperature 1.
import torch


def _log_softmax(z):
    z = z if z.dtype == torch.float64 else z.float()  # card: keep float64
    m = z.amax(dim=-1, keepdim=True)
    return z - m - (z - m).exp().sum(-1, keepdim=True).log()


def distillation_loss(
    student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5
):
    T = temperature
    N = student_logits.shape[0]
    log_ps_T = _log_softmax(student_logits / T)
    log_pt_T = _log_softmax(teacher_logits.detach() / T)
    pt = log_pt_T.exp()
    kl = (torch.xlogy(pt, pt) - pt * log_ps_T).sum() / N
    log_ps = _log_softmax(student_logits)
    ce = -log_ps.gather(1, labels.view(-1, 1)).mean()
    return alpha * (T * T) * kl + (1 - alpha) * ce
