"""Sort the entries by row, then scatter_add each entry's row of products into its output row."""

import torch


def coo_matmul(indices, values, shape, dense):
    order = torch.argsort(indices[0], stable=True)
    rows = indices[0][order]
    cols = indices[1][order]
    prods = dense.index_select(0, cols) * values[order].unsqueeze(-1)
    out = torch.zeros((shape[0], dense.size(1)), dtype=dense.dtype, device=dense.device)
    return out.scatter_add(0, rows.unsqueeze(-1).expand_as(prods), prods)
