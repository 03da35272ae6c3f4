# expect: torch.nn.functional.softmax
import torch
import torch.nn.functional as fn
import triton
import triton.language as tl

_row_softmax = fn.softmax  # bug (dodge): torch's softmax under another name


@triton.jit
def _copy_kernel(out_ptr, x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def softmax(x):
    y = _row_softmax(x.float(), dim=-1).to(x.dtype)
    out = torch.empty_like(y)
    _copy_kernel[(triton.cdiv(y.numel(), 128),)](out, y, y.numel(), BLOCK=128)
    return out
