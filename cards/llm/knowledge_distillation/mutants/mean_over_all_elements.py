# expect: mean over every element
import torch
import torch.nn.functional as F


def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    log_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).mean()  # bug: reduction="mean", also divides by C
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature**2 * kl + (1 - alpha) * hard
