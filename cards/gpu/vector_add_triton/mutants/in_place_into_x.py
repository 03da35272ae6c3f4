# expect: modified in place
import triton
import triton.language as tl


@triton.jit
def _add_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask),
             mask=mask)


def add(x, y):
    # bug: accumulates into x (x += y) and returns it, saving an allocation
    y = y.contiguous()
    n = x.numel()
    _add_kernel[(triton.cdiv(n, 1024),)](x, y, n, BLOCK=1024)
    return x
