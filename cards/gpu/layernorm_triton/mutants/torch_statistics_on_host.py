# expect: ran outside your kernel
import torch
import triton
import triton.language as tl


@triton.jit
def _affine_kernel(x_ptr, mean_ptr, rstd_ptr, w_ptr, b_ptr, out_ptr, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(x_ptr + row * N + cols, mask=mask).to(tl.float32)
    y = (x - tl.load(mean_ptr + row)) * tl.load(rstd_ptr + row)
    y = y * tl.load(w_ptr + cols, mask=mask).to(tl.float32) + tl.load(b_ptr + cols, mask=mask).to(tl.float32)
    tl.store(out_ptr + row * N + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def layer_norm(x, weight, bias, eps=1e-5):
    N = x.shape[-1]
    x2 = x.reshape(-1, N).contiguous()
    # bug (dodge): torch computes the statistics, the kernel only applies them
    x32 = x2.float()
    mean = x32.mean(-1)
    rstd = torch.rsqrt(x32.var(-1, unbiased=False) + eps)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    _affine_kernel[(x2.shape[0],)](x2, mean, rstd, weight.contiguous(), bias.contiguous(), out, N,
                                   BLOCK=triton.next_power_of_2(N))
    return out
