# expect: alpha and 1 - alpha swapped
import torch
import torch.nn.functional as F


def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    log_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1).mean()
    hard = F.cross_entropy(student_logits, labels)
    return (1 - alpha) * temperature**2 * kl + alpha * hard  # bug: weights swapped
