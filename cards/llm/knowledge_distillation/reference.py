"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network"): a softened KL to the teacher plus the hard-label cross-entropy.

Left out: masking of padded positions (sequence-level distillation), other divergences (reverse
KL, JS, as in MiniLLM / GKD) and feature-level distillation losses.
"""

import torch
import torch.nn.functional as F


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    # Stay in log space: a confident teacher's probabilities underflow to 0, and
    # log(softmax(x)) would give 0 * -inf = nan where log_softmax stays finite.
    log_t = F.log_softmax(teacher_logits / temperature, dim=-1)  # (N, C)
    log_s = F.log_softmax(student_logits / temperature, dim=-1)  # (N, C)
    # KL(teacher || student), batchmean
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=-1).mean()
    # The T^2: the soft term's gradients shrink as 1/T^2, this keeps them on the hard term's scale.
    soft = kl * temperature**2
    # raw logits, temperature 1, mean over N
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard
