# expect: the row count was read from the indices
def coo_matmul(indices, values, shape, dense):
    rows, cols = indices
    m = int(rows.max()) + 1 if rows.numel() else int(shape[0])  # bug: M comes from shape
    out = dense.new_zeros(m, dense.shape[1])
    return out.index_add(0, rows, values[:, None] * dense[cols])
