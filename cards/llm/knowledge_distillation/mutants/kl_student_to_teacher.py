# expect: KL(student||teacher)
import torch
import torch.nn.functional as F


def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    log_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    kl = (log_s.exp() * (log_s - log_t)).sum(-1).mean()  # bug: KL(student||teacher)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature**2 * kl + (1 - alpha) * hard
