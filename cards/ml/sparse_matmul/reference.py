"""COO sparse x dense, as torch.sparse.mm: each entry adds value * dense[col] to its output row.

index_add sums duplicate entries by construction and is differentiable w.r.t. both the values
and the dense rows gathered; the output's row count comes from `shape`, never from the indices."""


def coo_matmul(indices, values, shape, dense):
    rows, cols = indices[0], indices[1]
    contrib = values.unsqueeze(1) * dense[cols]  # (nnz, N)
    out = dense.new_zeros(int(shape[0]), dense.shape[1])
    return out.index_add(0, rows, contrib)  # out of place: keeps the graph
