"""Mutant (dodge): torch's own checkpoint under an alias."""
# expect: uses banned `torch.utils.checkpoint`

import torch.utils.checkpoint as ckpt_lib


def checkpoint(fn, *args):
    return ckpt_lib.checkpoint(fn, *args, use_reentrant=True)
