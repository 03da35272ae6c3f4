# expect: does not hold what your kernel wrote
import math

import torch
import triton
import triton.language as tl


@triton.jit
def _copy_kernel(out_ptr, x_ptr, n_cols, x_row_stride, x_col_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask)
    tl.store(out_ptr + row * n_cols + cols, x, mask=mask)


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    _copy_kernel[(n_rows,)](out, x, n_cols, x.stride(0), x.stride(1),
                            BLOCK=triton.next_power_of_2(n_cols))
    # bug (dodge): the kernel only copies; the softmax is done in Python on the host
    rows = out.float().cpu().tolist()
    result = []
    for r in rows:
        m = max(r)
        e = [math.exp(v - m) for v in r]
        s = sum(e)
        result.append([v / s for v in e])
    return torch.tensor(result, dtype=x.dtype).to(x.device)
