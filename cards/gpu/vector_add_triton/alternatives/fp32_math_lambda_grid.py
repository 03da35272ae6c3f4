import torch
import triton
import triton.language as tl


@triton.jit
def _vadd(a_ptr, b_ptr, c_ptr, numel, BLOCK_SIZE: tl.constexpr):
    start = tl.program_id(axis=0) * BLOCK_SIZE
    idx = start + tl.arange(0, BLOCK_SIZE)
    ok = idx < numel
    a = tl.load(a_ptr + idx, mask=ok, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + idx, mask=ok, other=0.0).to(tl.float32)
    # float32 math, rounded once to the output dtype: still the correctly rounded x + y
    tl.store(c_ptr + idx, (a + b).to(c_ptr.dtype.element_ty), mask=ok)


def add(x, y):
    a = x.reshape(-1)  # a copy for a non-viewable strided tensor
    b = y.reshape(-1)
    if a.stride(0) != 1:
        a = a.contiguous()
    if b.stride(0) != 1:
        b = b.contiguous()
    c = torch.empty_like(a, memory_format=torch.contiguous_format)
    numel = c.numel()

    def grid(meta):
        return (triton.cdiv(numel, meta["BLOCK_SIZE"]),)

    _vadd[grid](a, b, c, numel, BLOCK_SIZE=64)
    return c.view(x.shape)
