"""Rows of any length: walk each row in BLOCK-sized tiles with a running max and a running sum
(the online softmax of Milakov & Gimelshein, 2018), then a second pass writes exp(x - max) / sum.
The float32 result buffer is cast to x's dtype in the wrapper."""

import torch
import triton
import triton.language as tl


@triton.jit
def _online_softmax(
    X,
    Y,
    n_cols,
    sx_row,
    sx_col,
    sy_row,
    sy_col,
    BLOCK: tl.constexpr,
    N_TILES: tl.constexpr,
):
    row = tl.program_id(0)
    x_row = X + row * sx_row
    m = tl.full((), float("-inf"), tl.float32)  # running max
    d = tl.full((), 0.0, tl.float32)  # running sum of exp(x - m)
    # constexpr trip count (older interpreters need one; see verify.py)
    for tile in range(N_TILES):
        cols = tile * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_row + cols * sx_col, mask=cols < n_cols, other=float("-inf")).to(
            tl.float32
        )
        m_new = tl.maximum(m, tl.max(x, axis=0))
        d = d * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    for tile in range(N_TILES):
        cols = tile * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_row + cols * sx_col, mask=cols < n_cols, other=float("-inf")).to(
            tl.float32
        )
        tl.store(
            Y + row * sy_row + cols * sy_col, tl.exp(x - m) / d, mask=cols < n_cols
        )


def softmax(x: torch.Tensor) -> torch.Tensor:
    n_rows, n_cols = x.shape
    y = torch.empty((n_rows, n_cols), dtype=torch.float32, device=x.device)
    block = min(32, triton.next_power_of_2(n_cols))
    _online_softmax[(n_rows,)](
        x,
        y,
        n_cols,
        x.stride(0),
        x.stride(1),
        y.stride(0),
        y.stride(1),
        BLOCK=block,
        N_TILES=triton.cdiv(n_cols, block),
    )
    return y.to(x.dtype)
