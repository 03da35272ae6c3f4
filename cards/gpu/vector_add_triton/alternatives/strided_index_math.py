"""No copies: the kernel turns each flat (row-major) index into a 4-d index and reads x and y
through their own strides, so transposed, sliced and expanded views are read in place."""

import torch
import triton
import triton.language as tl


@triton.jit
def _strided_add(
    x_ptr,
    y_ptr,
    out_ptr,
    n,
    d1,
    d2,
    d3,
    sx0,
    sx1,
    sx2,
    sx3,
    sy0,
    sy1,
    sy2,
    sy3,
    BLOCK: tl.constexpr,
):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i3 = i % d3
    i2 = (i // d3) % d2
    i1 = (i // (d3 * d2)) % d1
    i0 = i // (d3 * d2 * d1)
    a = tl.load(x_ptr + i0 * sx0 + i1 * sx1 + i2 * sx2 + i3 * sx3, mask=mask)
    b = tl.load(y_ptr + i0 * sy0 + i1 * sy1 + i2 * sy2 + i3 * sy3, mask=mask)
    tl.store(out_ptr + i, a + b, mask=mask)


def _as_4d(t):
    while t.dim() < 4:
        t = t.unsqueeze(0)
    if t.dim() > 4:
        t = t.reshape(-1, *t.shape[-3:])  # a view when it can be, else a copy
    return t


def add(x, y):
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    n = out.numel()
    x4, y4 = _as_4d(x), _as_4d(y)
    _, d1, d2, d3 = x4.shape
    _strided_add[(triton.cdiv(n, 128),)](
        x4, y4, out, n, d1, d2, d3, *x4.stride(), *y4.stride(), BLOCK=128
    )
    return out
