# expect: uses banned `torch.add`
import torch
import triton
import triton.language as tl

_plus = torch.add  # bug (dodge): torch's add under another name


@triton.jit
def _copy_kernel(src_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(src_ptr + offs, mask=offs < n), mask=offs < n)


def add(x, y):
    s = _plus(x, y).contiguous()
    out = torch.empty_like(s)
    _copy_kernel[(triton.cdiv(s.numel(), 1024),)](s, out, s.numel(), BLOCK=1024)
    return out
