# expect: duplicate (row, col) entries were not summed
import torch


def coo_matmul(indices, values, shape, dense):
    a = torch.zeros(int(shape[0]), int(shape[1]), dtype=dense.dtype, device=dense.device)
    a = a.index_put((indices[0], indices[1]), values)  # bug: accumulate=False overwrites
    return a @ dense
