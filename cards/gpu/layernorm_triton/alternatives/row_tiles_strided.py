import torch
import triton
import triton.language as tl


@triton.jit
def _layernorm_rows(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    n_rows,
    n_cols,
    stride_xr,
    stride_xc,
    stride_w,
    stride_b,
    stride_yr,
    eps,
    ROWS: tl.constexpr,
    COLS: tl.constexpr,
):
    r = tl.program_id(0) * ROWS + tl.arange(0, ROWS)[:, None]  # (ROWS, 1)
    c = tl.arange(0, COLS)[None, :]  # (1, COLS)
    keep = (r < n_rows) & (c < n_cols)
    x = tl.load(x_ptr + r * stride_xr + c * stride_xc, mask=keep, other=0.0).to(
        tl.float32
    )
    mu = tl.sum(x, axis=1) / n_cols  # (ROWS,)
    dev = tl.where(keep, x - mu[:, None], 0.0)
    var = tl.sum(dev * dev, axis=1) / n_cols
    inv = 1.0 / tl.sqrt(var + eps)
    w = tl.load(w_ptr + c * stride_w, mask=c < n_cols, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + c * stride_b, mask=c < n_cols, other=0.0).to(tl.float32)
    y = dev * inv[:, None] * w + b
    tl.store(y_ptr + r * stride_yr + c, y.to(y_ptr.dtype.element_ty), mask=keep)


def layer_norm(x, weight, bias, eps=1e-5):
    n_cols = x.shape[-1]
    flat = x.reshape(-1, n_cols)
    n_rows = flat.shape[0]
    y = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    ROWS = 4
    _layernorm_rows[(triton.cdiv(n_rows, ROWS),)](
        flat,
        weight,
        bias,
        y,
        n_rows,
        n_cols,
        flat.stride(0),
        flat.stride(1),
        weight.stride(0),
        bias.stride(0),
        y.stride(0),
        eps,
        ROWS=ROWS,
        COLS=triton.next_power_of_2(n_cols),
    )
    return y.view(x.shape)
