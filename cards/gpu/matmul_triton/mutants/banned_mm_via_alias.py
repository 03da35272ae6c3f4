# expect: uses banned `torch.mm`
import torch
import triton
import triton.language as tl

_product = torch.mm  # bug (dodge): torch's matmul under another name


@triton.jit
def _copy_kernel(out_ptr, x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def matmul(a, b):
    y = _product(a, b)
    out = torch.empty_like(y)
    _copy_kernel[(triton.cdiv(y.numel(), 128),)](out, y, y.numel(), BLOCK=128)
    return out
