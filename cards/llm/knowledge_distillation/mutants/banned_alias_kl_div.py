# expect: uses banned `torch.nn.functional.kl_div`
from torch.nn import functional as G


def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    log_t = G.log_softmax(teacher_logits / temperature, dim=-1)
    log_s = G.log_softmax(student_logits / temperature, dim=-1)
    # bug: dodge, the banned KL through an alias
    kl = G.kl_div(log_s, log_t, reduction="batchmean", log_target=True)
    return alpha * temperature**2 * kl + (1 - alpha) * G.cross_entropy(student_logits, labels)
