# expect: uses banned
import torch
from torch_scatter import scatter as sc


def message_passing(x, edge_index, aggregate="sum"):
    # bug: not from scratch, torch_scatter does the aggregation
    return sc(x[edge_index[0]], edge_index[1], dim=0, dim_size=x.shape[0], reduce=aggregate)
