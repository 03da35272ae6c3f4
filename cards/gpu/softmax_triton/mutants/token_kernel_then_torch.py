# expect: ran outside your kernel
import torch
import triton
import triton.language as tl


@triton.jit
def _zero_kernel(out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.zeros([BLOCK], dtype=tl.float32), mask=offs < n)


def softmax(x):
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    _zero_kernel[(triton.cdiv(out.numel(), 128),)](out, out.numel(), BLOCK=128)
    # bug (dodge): the kernel is a token; torch does the actual softmax
    x32 = x.float()
    e = torch.exp(x32 - x32.amax(dim=-1, keepdim=True))
    out.copy_(e / e.sum(dim=-1, keepdim=True))
    return out
