# expect: the max started from 0
import torch


def message_passing(x, edge_index, aggregate="sum"):
    src, dst = edge_index
    msgs = x[src]
    if aggregate == "max":
        index = dst[:, None].expand_as(msgs)
        # bug: include_self defaults to True, so the zeros take part in the max
        return torch.zeros_like(x).scatter_reduce(0, index, msgs, reduce="amax")
    total = torch.zeros_like(x).index_add(0, dst, msgs)
    if aggregate == "sum":
        return total
    count = torch.bincount(dst, minlength=x.shape[0]).clamp(min=1)
    return total / count[:, None]
