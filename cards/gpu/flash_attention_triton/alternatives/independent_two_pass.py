# Written from the contract alone, by a writer who had not read this card's verifier.
"""Flash-attention forward in two passes over the keys instead of one online
pass: pass 1 streams K to get each query row's max m and normaliser l
(online, statistics only); pass 2 streams K and V again and accumulates the
already-normalised probabilities exp(s - m) / l times V. No rescaling of the
output accumulator is ever needed, at the price of computing QK^T twice.
Only (BLOCK_M x BLOCK_N) score tiles ever exist."""

import math

import torch
import triton
import triton.language as tl


@triton.jit
def _attn_two_pass(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
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
    IS_CAUSAL: tl.constexpr,
    D: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D)
    offs_n = tl.arange(0, BLOCK_N)
    q_base = q_ptr + b * sqb + h * sqh
    k_base = k_ptr + b * skb + h * skh
    v_base = v_ptr + b * svb + h * svh
    q = tl.load(
        q_base + rows[:, None] * sqn + offs_d[None, :] * sqd,
        mask=rows[:, None] < N,
        other=0.0,
    )

    if IS_CAUSAL:
        hi = tl.minimum(N, (pid_m + 1) * BLOCK_M)
    else:
        hi = N

    # pass 1: row max and normaliser
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    for start in range(0, hi, BLOCK_N):
        cols = start + offs_n
        kt = tl.load(
            k_base + cols[None, :] * skn + offs_d[:, None] * skd,
            mask=cols[None, :] < N,
            other=0.0,
        )
        s = tl.dot(q, kt) * scale
        valid = cols[None, :] < N
        if IS_CAUSAL:
            valid = valid & (cols[None, :] <= rows[:, None])
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        l_i = l_i * tl.exp(m_i - m_new) + tl.sum(tl.exp(s - m_new[:, None]), 1)
        m_i = m_new

    # pass 2: accumulate normalised probabilities times V
    inv_l = 1.0 / l_i
    acc = tl.zeros([BLOCK_M, D], tl.float32)
    for start in range(0, hi, BLOCK_N):
        cols = start + offs_n
        kt = tl.load(
            k_base + cols[None, :] * skn + offs_d[:, None] * skd,
            mask=cols[None, :] < N,
            other=0.0,
        )
        v = tl.load(
            v_base + cols[:, None] * svn + offs_d[None, :] * svd,
            mask=cols[:, None] < N,
            other=0.0,
        )
        s = tl.dot(q, kt) * scale
        valid = cols[None, :] < N
        if IS_CAUSAL:
            valid = valid & (cols[None, :] <= rows[:, None])
        s = tl.where(valid, s, float("-inf"))
        p = tl.exp(s - m_i[:, None]) * inv_l[:, None]
        acc += tl.dot(p.to(v.dtype), v)

    tl.store(
        o_ptr + b * sob + h * soh + rows[:, None] * son + offs_d[None, :] * sod,
        acc.to(o_ptr.dtype.element_ty),
        mask=rows[:, None] < N,
    )


def flash_attention(q, k, v, is_causal=False):
    B, H, N, D = q.shape
    assert k.shape == q.shape and v.shape == q.shape
    assert D in (16, 32, 64, 128)
    o = torch.empty((B, H, N, D), dtype=q.dtype, device=q.device)
    BLOCK_M, BLOCK_N = 64, 32
    grid = (triton.cdiv(N, BLOCK_M), B * H)
    _attn_two_pass[grid](
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
        IS_CAUSAL=bool(is_causal),
        D=D,
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
    )
    return o
