# Written from the contract alone, by a writer who had not read this card's verifier.
"""Vector add as a persistent, grid-stride Triton kernel that walks the
logical (row-major) index space of an up-to-8-d view (after merging
contiguous dims) and gathers x and y
through their own strides, so transposed / sliced inputs need no copy."""

import torch
import triton
import triton.language as tl

_MAX_DIMS = 8


@triton.jit
def _add_nd_kernel(
    x_ptr,
    y_ptr,
    out_ptr,
    n,
    d1,
    d2,
    d3,
    d4,
    d5,
    d6,
    d7,
    xs0,
    xs1,
    xs2,
    xs3,
    xs4,
    xs5,
    xs6,
    xs7,
    ys0,
    ys1,
    ys2,
    ys3,
    ys4,
    ys5,
    ys6,
    ys7,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    lanes = tl.arange(0, BLOCK)
    # grid-stride loop: a bounded number of programs sweeps the whole tensor
    for start in range(pid * BLOCK, n, nprog * BLOCK):
        lin = start + lanes
        mask = lin < n
        idx = lin.to(tl.int64)
        i7 = idx % d7
        idx = idx // d7
        i6 = idx % d6
        idx = idx // d6
        i5 = idx % d5
        idx = idx // d5
        i4 = idx % d4
        idx = idx // d4
        i3 = idx % d3
        idx = idx // d3
        i2 = idx % d2
        idx = idx // d2
        i1 = idx % d1
        i0 = idx // d1
        xo = (
            i0 * xs0
            + i1 * xs1
            + i2 * xs2
            + i3 * xs3
            + i4 * xs4
            + i5 * xs5
            + i6 * xs6
            + i7 * xs7
        )
        yo = (
            i0 * ys0
            + i1 * ys1
            + i2 * ys2
            + i3 * ys3
            + i4 * ys4
            + i5 * ys5
            + i6 * ys6
            + i7 * ys7
        )
        a = tl.load(x_ptr + xo, mask=mask)
        b = tl.load(y_ptr + yo, mask=mask)
        tl.store(out_ptr + lin.to(tl.int64), a + b, mask=mask)


def _coalesce(shape, xs, ys):
    """Drop size-1 dims and merge neighbours that are contiguous in both x and y."""
    dims = [(s, a, b) for s, a, b in zip(shape, xs, ys) if s != 1]
    out = []
    for s, a, b in dims:
        if out:
            ps, pa, pb = out[-1]
            if pa == a * s and pb == b * s:
                out[-1] = (ps * s, a, b)
                continue
        out.append((s, a, b))
    if not out:
        out = [(1, 0, 0)]
    return out


def add(x, y):
    assert x.shape == y.shape and x.dtype == y.dtype and x.device == y.device
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    n = out.numel()
    dims = _coalesce(list(x.shape), list(x.stride()), list(y.stride()))
    if len(dims) > _MAX_DIMS:
        raise ValueError(f"at most {_MAX_DIMS} non-mergeable dims supported")
    dims = [(1, 0, 0)] * (_MAX_DIMS - len(dims)) + dims
    sizes = [d[0] for d in dims]
    xs = [d[1] for d in dims]
    ys = [d[2] for d in dims]
    BLOCK = 1024
    n_blocks = triton.cdiv(n, BLOCK)
    grid = (max(1, min(n_blocks, 4 * 132)),)
    _add_nd_kernel[grid](x, y, out, n, *sizes[1:], *xs, *ys, BLOCK=BLOCK)
    return out
