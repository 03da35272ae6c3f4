# expect: uses banned `torch.nn.functional.scaled_dot_product_attention`
import torch
import torch.nn.functional as fn
import triton
import triton.language as tl

_attention = fn.scaled_dot_product_attention  # bug (dodge): torch's SDPA under another name


@triton.jit
def _copy_kernel(out_ptr, x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def flash_attention(q, k, v, is_causal=False):
    y = _attention(q, k, v, is_causal=is_causal).contiguous()
    out = torch.empty_like(y)
    _copy_kernel[(triton.cdiv(y.numel(), 1024),)](out, y, y.numel(), BLOCK=1024)
    return out
