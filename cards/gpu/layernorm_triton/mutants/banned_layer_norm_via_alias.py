# expect: uses banned `torch.nn.functional.layer_norm`
import torch
import torch.nn.functional as G
import triton
import triton.language as tl

_norm = G.layer_norm  # bug (dodge): torch's LayerNorm under another name


@triton.jit
def _copy_kernel(src_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(src_ptr + offs, mask=offs < n), mask=offs < n)


def layer_norm(x, weight, bias, eps=1e-5):
    y = _norm(x.float(), (x.shape[-1],), weight.float(), bias.float(), eps).to(x.dtype)
    out = torch.empty_like(y)
    _copy_kernel[(triton.cdiv(y.numel(), 256),)](y, out, y.numel(), BLOCK=256)
    return out
