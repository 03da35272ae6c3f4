# expect: over the columns
import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(out_ptr, x_ptr, n_rows, x_row_stride, x_col_stride, out_row_stride,
                    BLOCK: tl.constexpr):
    col = tl.program_id(0)  # bug: one program per column, normalising down the column (dim 0)
    rows = tl.arange(0, BLOCK)
    mask = rows < n_rows
    x = tl.load(x_ptr + rows * x_row_stride + col * x_col_stride, mask=mask, other=-float("inf"))
    x = x.to(tl.float32)
    num = tl.exp(x - tl.max(x, axis=0))
    y = num / tl.sum(num, axis=0)
    tl.store(out_ptr + rows * out_row_stride + col, y.to(out_ptr.dtype.element_ty), mask=mask)


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    _softmax_kernel[(n_cols,)](out, x, n_rows, x.stride(0), x.stride(1), out.stride(0),
                               BLOCK=triton.next_power_of_2(n_rows))
    return out
