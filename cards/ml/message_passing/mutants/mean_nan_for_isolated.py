# expect: has no incoming edge and got nan
import torch


def message_passing(x, edge_index, aggregate="sum"):
    src, dst = edge_index
    msgs = x[src]
    if aggregate == "max":
        index = dst[:, None].expand_as(msgs)
        return torch.zeros_like(x).scatter_reduce(0, index, msgs, reduce="amax", include_self=False)
    total = torch.zeros_like(x).index_add(0, dst, msgs)
    if aggregate == "sum":
        return total
    count = torch.bincount(dst, minlength=x.shape[0])
    return total / count[:, None]  # bug: 0 / 0 for a node without incoming edges
