# expect: uses banned
import torch
from torch.distributed import all_reduce as ring_sum


def ring_allreduce(tensor: torch.Tensor) -> None:
    ring_sum(tensor)
