# expect: log(0) = -inf
import torch
import torch.nn.functional as F


def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    p_t = F.softmax(teacher_logits / temperature, dim=-1)
    p_s = F.softmax(student_logits / temperature, dim=-1)
    kl = (p_t * (torch.log(p_t) - torch.log(p_s))).sum(-1).mean()  # bug: log(0) = -inf
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature**2 * kl + (1 - alpha) * hard
