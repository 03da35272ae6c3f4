"""Verifier for coo_matmul: against torch.sparse.mm on a torch.sparse_coo_tensor built from the
same entries, in float64 on the CPU, with shuffled and duplicated entries, empty rows (the last
ones too) and columns, nnz = 0, float64, a non-contiguous dense matrix, and through the gradients
with respect to values and dense.

A wrong shape is explained when it matches the row count read from the indices or the sparse
matrix taken transposed; wrong values when they match duplicates kept once (first or last),
the values ignored, or rows and columns swapped."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
)

TOL = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(autouse=True)
def _full_float32_on_cuda():
    """Keep float32 matmuls in full precision on CUDA (no TF32), whatever the process default,
    for the comparison with float64; restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _entries(m, k, nnz, seed, rows_below=None, dup=0.3):
    """Shuffled int64 indices with about `dup` of the entries repeating an earlier (row, col),
    and seeded values; rows only below `rows_below` when given (empty trailing rows)."""
    g = generator(seed)
    top = rows_below or m
    rows = torch.randint(0, top, (nnz,), generator=g)
    cols = torch.randint(0, k, (nnz,), generator=g)
    n_dup = int(nnz * dup)
    if n_dup and nnz > 1:
        src = torch.randint(0, nnz - n_dup, (n_dup,), generator=g)
        rows[nnz - n_dup :], cols[nnz - n_dup :] = rows[src], cols[src]
    perm = torch.randperm(nnz, generator=g)
    indices = torch.stack([rows[perm], cols[perm]])
    values = torch.randn(nnz, generator=g, dtype=torch.float64)
    return indices, values


def _ref(indices, values, shape, dense):
    a = torch.sparse_coo_tensor(
        indices.cpu(), values.detach().cpu().double(), tuple(shape)
    )
    return torch.sparse.mm(a, dense.detach().cpu().double())


def _variants(indices, values, shape, dense):
    r, c = indices.cpu()
    v = values.detach().cpu().double()
    d = dense.detach().cpu().double()
    m, n = int(shape[0]), d.shape[1]

    def keep(order):
        a = torch.zeros(m, int(shape[1]), dtype=torch.float64)
        for e in order:
            a[r[e], c[e]] = v[e]
        return a @ d

    nnz = v.numel()
    found = {
        "duplicate (row, col) entries were not summed (the last one won, as with "
        "index_put_ / assignment): a COO matrix adds up repeated entries": lambda: keep(
            range(nnz)
        ),
        "duplicate (row, col) entries were not summed (the first one won): a COO matrix adds "
        "up repeated entries": lambda: keep(reversed(range(nnz))),
        "the values were ignored (every entry taken as 1)": lambda: torch.zeros(
            m, n, dtype=torch.float64
        ).index_add(0, r, d[c]),
    }
    if int(shape[0]) == int(shape[1]):
        found[
            "the rows and columns were swapped (the matrix was transposed): indices[0] holds "
            "the rows, indices[1] the columns"
        ] = lambda: torch.zeros(m, n, dtype=torch.float64).index_add(
            0, c, v[:, None] * d[r]
        )
    return found


def _check(out, indices, values, shape, dense, context):
    expected = _ref(indices, values, shape, dense).to(
        device=dense.device, dtype=dense.dtype
    )
    if isinstance(out, torch.Tensor) and out.shape != expected.shape:
        hints = {}
        if indices.shape[1]:
            rows_seen = int(indices[0].max()) + 1
            hints[(rows_seen, dense.shape[1])] = (
                "the row count was read from the indices (max row + 1): take M from `shape`; "
                "the last rows may have no entry"
            )
        hints.setdefault(
            (int(shape[1]), dense.shape[1]),
            "the sparse matrix was taken transposed: its shape is (M, K) = shape, and the "
            "output (M, N)",
        )
        note = hints.get(tuple(out.shape), "")
        raise AssertionError(
            f"output [{context}]: shape expected {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}"
            + (f"\nlikely bug (the shape matches this mistake): {note}" if note else "")
        )
    tol = TOL  # float64 too: the dtype is checked, the precision is not
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(indices, values, shape, dense),
        context=context,
        **tol,
    )


def _run(impl, indices, values, shape, dense, context):
    saved = [t.clone() for t in (indices, values, dense)]
    out = call(impl.coo_matmul, indices, values, shape, dense, what="coo_matmul")
    for name, before, t in zip(
        ("indices", "values", "dense"), saved, (indices, values, dense)
    ):
        assert_unchanged(before, t, name)
    _check(out, indices, values, shape, dense, context)
    return out


# (M, K, N, nnz, rows only below, shape as)
CASES = [
    (6, 6, 4, 20, None, list),  # square: a transposed matrix has the right shape
    (7, 5, 3, 12, None, tuple),
    (9, 4, 2, 10, 5, torch.Size),  # the last 4 rows have no entry
    (5, 8, 3, 40, None, tuple),  # many duplicates
    (1, 3, 5, 4, None, tuple),
    (4, 1, 1, 6, None, tuple),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[:5])))
def test_matches_torch_sparse_mm(impl, device, case):
    m, k, n, nnz, rows_below, kind = case
    indices, values = _entries(m, k, nnz, sum(case[:4]), rows_below)
    dense = torch.randn(k, n, generator=generator(m * 10 + n), dtype=torch.float64)
    indices = indices.to(device)
    values = values.to(device=device, dtype=torch.float32)
    dense = dense.to(device=device, dtype=torch.float32)
    shape = kind((m, k))
    _run(
        impl,
        indices,
        values,
        shape,
        dense,
        f"A of shape {tuple(shape)} ({kind.__name__}), {nnz} entries shuffled with duplicates"
        + (f", rows {rows_below}.. empty" if rows_below else "")
        + f", dense ({k}, {n})",
    )


def test_no_nonzeros_gives_zeros(impl, device):
    indices = torch.zeros(2, 0, dtype=torch.int64, device=device)
    values = torch.zeros(0, device=device)
    dense = torch.randn(4, 3, generator=generator(5)).to(device)
    out = call(impl.coo_matmul, indices, values, (6, 4), dense, what="coo_matmul")
    assert isinstance(out, torch.Tensor), f"expected a tensor, got {type(out).__name__}"
    assert tuple(out.shape) == (6, 3), (
        f"nnz = 0: output shape expected (6, 3) (M from shape), got {tuple(out.shape)}"
    )
    assert out.dtype == dense.dtype and out.device.type == dense.device.type, (
        f"nnz = 0: expected {dense.dtype} on {dense.device.type}, got {out.dtype} on "
        f"{out.device.type}"
    )
    assert torch.equal(out.cpu(), torch.zeros(6, 3)), "nnz = 0 must give all zeros"


def test_float64_keeps_dtype(impl, device):
    indices, values = _entries(5, 6, 15, 60)
    dense = torch.randn(6, 4, generator=generator(61), dtype=torch.float64).to(device)
    _run(
        impl,
        indices.to(device),
        values.to(device),
        (5, 6),
        dense,
        "float64 values and dense",
    )


def test_non_contiguous_dense(impl, device):
    indices, values = _entries(5, 7, 14, 70)
    # (7, 3), transposed
    dense = torch.randn(3, 7, generator=generator(71)).to(device).t()
    assert not dense.is_contiguous()
    _run(
        impl,
        indices.to(device),
        values.to(device=device, dtype=torch.float32),
        (5, 7),
        dense,
        "dense is a transposed (non-contiguous) view",
    )


def test_gradients_reach_values_and_dense(impl, device):
    m, k, n = 6, 5, 3
    indices, values = _entries(m, k, 16, 80, dup=0.4)
    dense = torch.randn(k, n, generator=generator(81), dtype=torch.float64)
    v = values.to(device=device, dtype=torch.float32).requires_grad_()
    d = dense.to(device=device, dtype=torch.float32).requires_grad_()
    out = call(impl.coo_matmul, indices.to(device), v, (m, k), d, what="coo_matmul")
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the output does not require grad: keep it connected to values and dense (no "
        ".item()/.tolist() on the values, no .detach(), no torch.no_grad)"
    )
    up = torch.randn(m, n, generator=generator(82), dtype=torch.float64)
    (out * up.to(device=device, dtype=out.dtype)).sum().backward()
    vr, dr = values.clone().requires_grad_(), dense.clone().requires_grad_()
    a = torch.zeros(m, k, dtype=torch.float64).index_put(
        (indices[0], indices[1]), vr, accumulate=True
    )
    ((a @ dr) * up).sum().backward()
    for name, got, ref in (("values", v, vr), ("dense", d, dr)):
        assert got.grad is not None, (
            f"no gradient reached `{name}`: the output must be built from it with "
            "differentiable ops"
        )
        assert_close(
            got.grad,
            ref.grad.to(device=device, dtype=got.dtype),
            what=f"gradient of {name}",
            context="16 entries with duplicates: each duplicate gets its own gradient",
            **TOL,
        )
