"""Alternative: KL(P||Q) = H(P, Q) - H(P), with the cross-entropy from F.cross_entropy's
probability targets and the teacher's entropy from torch.special.xlogy (0 log 0 = 0); the
teacher is detached, as a fixed target."""

import torch
import torch.nn.functional as F


def distillation_loss(
    student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5
):
    p = F.softmax(teacher_logits.detach() / temperature, dim=-1)  # may hold exact zeros
    # mean over rows of -sum p log q
    cross = F.cross_entropy(student_logits / temperature, p)
    entropy = -torch.special.xlogy(p, p).sum(-1).mean()
    hard = F.cross_entropy(student_logits, labels)
    return alpha * (temperature**2) * (cross - entropy) + (1.0 - alpha) * hard
