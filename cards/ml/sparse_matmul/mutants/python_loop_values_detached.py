# expect: no gradient reached `values`
import torch


def coo_matmul(indices, values, shape, dense):
    out = torch.zeros(int(shape[0]), dense.shape[1], dtype=dense.dtype, device=dense.device)
    # bug: .tolist() turns the values into Python floats: no gradient reaches them
    for r, c, v in zip(indices[0].tolist(), indices[1].tolist(), values.tolist()):
        out[r] = out[r] + v * dense[c]
    return out
