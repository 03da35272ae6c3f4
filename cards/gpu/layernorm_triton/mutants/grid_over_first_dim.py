# expect: rows hold NaN
import torch
import triton
import triton.language as tl


@triton.jit
def _ln_kernel(x_ptr, w_ptr, b_ptr, out_ptr, N, sx0, sx1, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(x_ptr + row * sx0 + cols * sx1, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / N
    xc = tl.where(mask, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / N + eps)
    w = tl.load(w_ptr + cols, mask=mask).to(tl.float32)
    b = tl.load(b_ptr + cols, mask=mask).to(tl.float32)
    tl.store(out_ptr + row * N + cols, (xc * rstd * w + b).to(out_ptr.dtype.element_ty), mask=mask)


def layer_norm(x, weight, bias, eps=1e-5):
    N = x.shape[-1]
    x2 = x.reshape(-1, N)
    w, b = weight.contiguous(), bias.contiguous()
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    # bug: one program per row of the first dim, not per row of the flattened (rows, N) view
    rows = x.shape[0] if x.dim() > 1 else 1
    _ln_kernel[(rows,)](x2, w, b, out, N, x2.stride(0), x2.stride(1), eps,
                              BLOCK=triton.next_power_of_2(N))
    return out
