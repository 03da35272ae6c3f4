# expect: accumulator is not rescaled
import math

import torch
import triton
import triton.language as tl


@triton.jit
def _fwd(
    Q,
    K,
    V,
    O,
    H,
    N,
    scale,
    sqb,
    sqh,
    sqn,
    sqd,
    skb,
    skh,
    skn,
    skd,
    svb,
    svh,
    svn,
    svd,
    sob,
    soh,
    son,
    sod,
    D: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    CAUSAL: tl.constexpr,
):
    bh = tl.program_id(0)
    b = bh // H
    h = bh % H
    rows = tl.program_id(1) * BM + tl.arange(0, BM)
    dd = tl.arange(0, D)
    q = tl.load(
        Q + b * sqb + h * sqh + rows[:, None] * sqn + dd[None, :] * sqd,
        mask=rows[:, None] < N,
        other=0.0,
    )
    m = tl.full([BM], float("-inf"), tl.float32)
    l = tl.zeros([BM], tl.float32)
    acc = tl.zeros([BM, D], tl.float32)
    end = N
    if CAUSAL:
        end = tl.minimum(N, (tl.program_id(1) + 1) * BM)
    for n0 in range(0, end, BN):
        cols = n0 + tl.arange(0, BN)
        k = tl.load(
            K + b * skb + h * skh + cols[:, None] * skn + dd[None, :] * skd,
            mask=cols[:, None] < N,
            other=0.0,
        )
        v = tl.load(
            V + b * svb + h * svh + cols[:, None] * svn + dd[None, :] * svd,
            mask=cols[:, None] < N,
            other=0.0,
        )
        s = tl.dot(q, tl.trans(k)) * scale
        ok = cols[None, :] < N
        if CAUSAL:
            ok = ok & (cols[None, :] <= rows[:, None])
        s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=1))
        p = tl.exp(s - m_new[:, None])
        corr = tl.exp(m - m_new)
        l = l * corr + tl.sum(p, axis=1)
        acc = acc + tl.dot(p.to(v.dtype), v)  # bug: acc not rescaled by corr
        m = m_new
    tl.store(
        O + b * sob + h * soh + rows[:, None] * son + dd[None, :] * sod,
        (acc / l[:, None]).to(O.dtype.element_ty),
        mask=rows[:, None] < N,
    )


def flash_attention(q, k, v, is_causal=False):
    B, H, N, D = q.shape
    o = torch.empty_like(q, memory_format=torch.contiguous_format)
    BM, BN = 64, 32
    _fwd[(B * H, triton.cdiv(N, BM))](
        q,
        k,
        v,
        o,
        H,
        N,
        1.0 / math.sqrt(D),
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *o.stride(),
        D=D,
        BM=BM,
        BN=BN,
        CAUSAL=is_causal,
    )
    return o
