# expect: uses banned `torch.nn.utils.clip_grad`
from torch.nn.utils import clip_grad as cg


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    return cg.clip_grad_norm_(parameters, max_norm, norm_type)  # bug: not from scratch
