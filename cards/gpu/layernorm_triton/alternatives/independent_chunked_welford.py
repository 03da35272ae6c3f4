# Written from the contract alone, by a writer who had not read this card's verifier.
"""LayerNorm forward that never needs the whole row in registers: one program
per row streams the row in BLOCK-wide chunks, merging per-chunk (count, mean,
M2) with Chan's parallel Welford update (numerically stable fp32 statistics),
then streams it again to normalise. Leading dims are walked through their own
strides, so any view of x works without a copy."""

import torch
import triton
import triton.language as tl

_LEAD = 4


@triton.jit
def _ln_kernel(
    x_ptr,
    w_ptr,
    b_ptr,
    y_ptr,
    N,
    eps,
    d1,
    d2,
    d3,
    sx0,
    sx1,
    sx2,
    sx3,
    sxn,
    sw,
    sb,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    # decompose the flat row id into the (padded) leading indices
    r = row
    i3 = r % d3
    r = r // d3
    i2 = r % d2
    r = r // d2
    i1 = r % d1
    i0 = r // d1
    x_row = x_ptr + i0 * sx0 + i1 * sx1 + i2 * sx2 + i3 * sx3
    y_row = y_ptr + row * N
    cols = tl.arange(0, BLOCK)

    count = 0.0
    mean = 0.0
    m2 = 0.0
    for start in range(0, N, BLOCK):
        c = start + cols
        msk = c < N
        x = tl.load(x_row + c * sxn, mask=msk, other=0.0).to(tl.float32)
        n_b = tl.sum(msk.to(tl.float32), axis=0)
        mean_b = tl.sum(x, axis=0) / n_b
        d = tl.where(msk, x - mean_b, 0.0)
        m2_b = tl.sum(d * d, axis=0)
        tot = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / tot)
        m2 = m2 + m2_b + delta * delta * (count * n_b / tot)
        count = tot
    var = m2 / count  # biased variance
    rstd = 1.0 / tl.sqrt(var + eps)  # eps inside the sqrt

    for start in range(0, N, BLOCK):
        c = start + cols
        msk = c < N
        x = tl.load(x_row + c * sxn, mask=msk, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + c * sw, mask=msk, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + c * sb, mask=msk, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * w + b
        tl.store(y_row + c, y.to(y_ptr.dtype.element_ty), mask=msk)


def layer_norm(x, weight, bias, eps=1e-5):
    N = x.shape[-1]
    assert weight.shape == (N,) and bias.shape == (N,)
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    lead = list(x.shape[:-1])
    lstr = list(x.stride()[:-1])
    if len(lead) > _LEAD:
        raise ValueError(f"at most {_LEAD} leading dims supported")
    lead = [1] * (_LEAD - len(lead)) + lead
    lstr = [0] * (_LEAD - len(lstr)) + lstr
    rows = 1
    for d in lead:
        rows *= d
    if rows == 0 or N == 0:
        return y
    BLOCK = min(1024, triton.next_power_of_2(N))
    _ln_kernel[(rows,)](
        x,
        weight,
        bias,
        y,
        N,
        float(eps),
        lead[1],
        lead[2],
        lead[3],
        lstr[0],
        lstr[1],
        lstr[2],
        lstr[3],
        x.stride(-1),
        weight.stride(0),
        bias.stride(0),
        BLOCK=BLOCK,
    )
    return y
