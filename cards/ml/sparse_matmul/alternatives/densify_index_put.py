"""Build the dense (M, K) matrix with index_put(accumulate=True), which sums duplicates, then one
dense matmul (fine for small matrices; the contract does not forbid it)."""

import torch


def coo_matmul(indices, values, shape, dense):
    m, k = (int(s) for s in shape)
    a = torch.zeros(m, k, dtype=dense.dtype, device=dense.device)
    a = a.index_put((indices[0], indices[1]), values.to(dense.dtype), accumulate=True)
    return a @ dense
