import torch
import triton
import triton.language as tl


@triton.jit
def _kernel(
    out_ptr,
    in_ptr,
    in_row_stride,
    in_col_stride,
    out_row_stride,
    n_cols,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(
        in_ptr + row * in_row_stride + cols * in_col_stride,
        mask=mask,
        other=-float("inf"),
    ).to(tl.float32)
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    den = tl.sum(num, axis=0)
    tl.store(
        out_ptr + row * out_row_stride + cols,
        (num / den).to(out_ptr.dtype.element_ty),
        mask=mask,
    )


def softmax(x):
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    BLOCK = triton.next_power_of_2(n_cols)
    _kernel[(n_rows,)](
        out, x, x.stride(0), x.stride(1), out.stride(0), n_cols, BLOCK=BLOCK
    )
    return out
