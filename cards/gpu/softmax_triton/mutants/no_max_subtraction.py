# expect: no max subtraction
import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(out_ptr, x_ptr, n_cols, x_row_stride, x_col_stride, out_row_stride,
                    BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=-float("inf"))
    num = tl.exp(x.to(tl.float32))  # bug: no row max subtracted, exp(1000) = inf
    y = num / tl.sum(num, axis=0)
    tl.store(out_ptr + row * out_row_stride + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    _softmax_kernel[(n_rows,)](out, x, n_cols, x.stride(0), x.stride(1), out.stride(0),
                               BLOCK=triton.next_power_of_2(n_cols))
    return out
