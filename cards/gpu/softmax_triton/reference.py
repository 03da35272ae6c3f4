"""Row-wise softmax as a Triton kernel: one program per row, the whole row in one block.

The fused-softmax pattern of the Triton tutorials ("Fused Softmax", triton-lang.org): load a row
once, subtract its max, exponentiate, normalise, store, so the row makes a single trip through
memory. Left out: rows longer than one block (see the online-softmax alternative), several rows per
program, autotuning num_warps, and the backward pass.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(
    out_ptr,
    x_ptr,
    n_cols,
    x_row_stride,
    x_col_stride,
    out_row_stride,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)  # (BLOCK,) BLOCK is a power of two >= n_cols
    mask = cols < n_cols
    # Padding lanes load -inf so they neither win the max nor add to the sum (exp(-inf) = 0).
    x = tl.load(
        x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=-float("inf")
    )
    x = x.to(tl.float32)  # the math in float32 whatever the input dtype
    # The subtlety: subtract the row max, or exp overflows to inf for inputs beyond ~88 (fp32).
    z = x - tl.max(x, axis=0)
    num = tl.exp(z)
    y = num / tl.sum(num, axis=0)
    tl.store(
        out_ptr + row * out_row_stride + cols, y.to(out_ptr.dtype.element_ty), mask=mask
    )


def softmax(x: torch.Tensor) -> torch.Tensor:
    n_rows, n_cols = x.shape  # (R, C)
    # contiguous (R, C)
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    BLOCK = triton.next_power_of_2(n_cols)
    _softmax_kernel[(n_rows,)](
        out, x, n_cols, x.stride(0), x.stride(1), out.stride(0), BLOCK=BLOCK
    )
    return out
