"""Neighbourhood aggregation of a message-passing GNN (Gilmer et al., 2017), with index_add and
scatter_reduce: messages x[src] flow src -> dst, no self-loops, duplicates counted."""

import torch


def message_passing(
    x: torch.Tensor, edge_index: torch.Tensor, aggregate: str = "sum"
) -> torch.Tensor:
    n = x.shape[0]
    src, dst = edge_index[0], edge_index[1]
    msgs = x[src]  # (E, F): one message per edge, duplicates included
    if aggregate == "max":
        # include_self=False: the zeros are not part of the max, and rows that receive nothing
        # keep their 0 (never -inf).
        index = dst[:, None].expand_as(msgs)
        return x.new_zeros(x.shape).scatter_reduce(
            0, index, msgs, reduce="amax", include_self=False
        )
    total = x.new_zeros(x.shape).index_add(0, dst, msgs)
    if aggregate == "sum":
        return total
    if aggregate == "mean":
        count = torch.bincount(dst, minlength=n).clamp(min=1)  # 0 / 1 = 0, not NaN
        return total / count[:, None].to(x.dtype)
    raise ValueError(f"unknown aggregate {aggregate!r}")
