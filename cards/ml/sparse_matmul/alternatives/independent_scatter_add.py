# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def coo_matmul(indices, values, shape, dense):
    """Gather the dense rows named by the column indices, weight them by the
    values, and scatter_add them into the output rows. Duplicate (row, col)
    entries are separate contributions and therefore summed."""
    n_rows = int(shape[0])
    if len(shape) > 1 and int(shape[1]) != dense.shape[0]:
        raise ValueError("shape[1] must equal dense.shape[0]")
    indices = indices.to(device=dense.device, dtype=torch.long)
    rows, cols = indices[0], indices[1]
    out_dtype = torch.promote_types(values.dtype, dense.dtype)
    vals = values.to(device=dense.device, dtype=out_dtype)
    dmat = dense.to(out_dtype)
    F_ = dmat.shape[1]
    contrib = vals[:, None] * dmat.index_select(0, cols)  # (nnz, F)
    out = torch.zeros(n_rows, F_, dtype=out_dtype, device=dense.device)
    return out.scatter_add(0, rows[:, None].expand(-1, F_), contrib)
