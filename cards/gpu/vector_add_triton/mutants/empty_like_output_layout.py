# expect: the output has strides
import torch
import triton
import triton.language as tl


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask),
             mask=mask)


def add(x, y):
    # bug: empty_like keeps a transposed x's layout, but the inputs are made row-major and the
    # kernel writes the output in flat row-major order
    out = torch.empty_like(x)
    x, y = x.contiguous(), y.contiguous()
    n = x.numel()
    _add_kernel[(triton.cdiv(n, 512),)](x, y, out, n, BLOCK=512)
    return out
