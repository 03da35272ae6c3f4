# expect: the messages flow the wrong way
import torch


def message_passing(x, edge_index, aggregate="sum"):
    dst, src = edge_index  # bug: edge_index[0] taken as the receiver
    msgs = x[src]
    if aggregate == "max":
        index = dst[:, None].expand_as(msgs)
        return torch.zeros_like(x).scatter_reduce(0, index, msgs, reduce="amax", include_self=False)
    total = torch.zeros_like(x).index_add(0, dst, msgs)
    if aggregate == "sum":
        return total
    count = torch.bincount(dst, minlength=x.shape[0]).clamp(min=1)
    return total / count[:, None]
