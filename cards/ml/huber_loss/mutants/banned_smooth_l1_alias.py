# expect: uses banned `torch.nn.functional.smooth_l1_loss`
from torch.nn import functional as nnf


def huber_loss(input, target, delta=1.0, reduction="mean"):
    # bug: not from scratch: Huber is delta times smooth L1 with beta=delta
    return delta * nnf.smooth_l1_loss(input, target, reduction=reduction, beta=delta)
