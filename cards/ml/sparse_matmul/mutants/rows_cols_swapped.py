# expect: the rows and columns were swapped
def coo_matmul(indices, values, shape, dense):
    cols, rows = indices  # bug: indices[0] holds the rows, indices[1] the columns
    out = dense.new_zeros(int(shape[0]), dense.shape[1])
    return out.index_add(0, rows, values[:, None] * dense[cols])
