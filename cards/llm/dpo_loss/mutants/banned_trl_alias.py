# expect: uses banned `trl`
import torch.nn.functional as F
from trl.trainer import dpo_trainer as dt  # bug: dodge, TRL's DPO under another name


def dpo_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    beta=0.1,
    label_smoothing=0.0,
):
    trainer = dt.DPOTrainer.__new__(dt.DPOTrainer)
    trainer.beta, trainer.label_smoothing, trainer.loss_type = beta, label_smoothing, "sigmoid"
    return trainer.dpo_loss(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps
    )


def sequence_logps(logits, labels, ignore_index=-100):
    logits, labels = logits[:, :-1], labels[:, 1:]
    nll = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=ignore_index, reduction="none")
    return -nll.sum(-1)
