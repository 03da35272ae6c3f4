# Written from the prompt alone: copy q, k, v to contiguous (B*H, N, D), then two passes over the
# keys per query block (first the row max and sum, then the normalised p @ v), no rescaling.
import math

import torch
import triton
import triton.language as tl


@triton.jit
def _two_pass(
    Q,
    K,
    V,
    O,
    N,
    sm_scale,
    HEAD_DIM: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_K: tl.constexpr,
    CAUSAL: tl.constexpr,
):
    head = tl.program_id(0)
    qi = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)
    d = tl.arange(0, HEAD_DIM)
    base = head * N * HEAD_DIM
    q = tl.load(
        Q + base + qi[:, None] * HEAD_DIM + d[None, :], mask=qi[:, None] < N, other=0.0
    )
    row_max = tl.zeros([BLOCK_Q], dtype=tl.float32) - float("inf")
    row_sum = tl.zeros([BLOCK_Q], dtype=tl.float32)
    for start in range(0, N, BLOCK_K):
        kj = start + tl.arange(0, BLOCK_K)
        k = tl.load(
            K + base + kj[:, None] * HEAD_DIM + d[None, :],
            mask=kj[:, None] < N,
            other=0.0,
        )
        s = tl.dot(q, tl.trans(k)) * sm_scale
        visible = (kj[None, :] < N) & (qi[:, None] >= 0)
        if CAUSAL:
            visible = visible & (kj[None, :] <= qi[:, None])
        s = tl.where(visible, s, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(s, axis=1))
        row_sum = row_sum * tl.exp(row_max - new_max) + tl.sum(
            tl.exp(s - new_max[:, None]), axis=1
        )
        row_max = new_max
    out = tl.zeros([BLOCK_Q, HEAD_DIM], dtype=tl.float32)
    for start in range(0, N, BLOCK_K):
        kj = start + tl.arange(0, BLOCK_K)
        k = tl.load(
            K + base + kj[:, None] * HEAD_DIM + d[None, :],
            mask=kj[:, None] < N,
            other=0.0,
        )
        v = tl.load(
            V + base + kj[:, None] * HEAD_DIM + d[None, :],
            mask=kj[:, None] < N,
            other=0.0,
        )
        s = tl.dot(q, tl.trans(k)) * sm_scale
        visible = (kj[None, :] < N) & (qi[:, None] >= 0)
        if CAUSAL:
            visible = visible & (kj[None, :] <= qi[:, None])
        s = tl.where(visible, s, float("-inf"))
        p = tl.exp(s - row_max[:, None]) / row_sum[:, None]
        out += tl.dot(p.to(v.dtype), v)
    tl.store(O + base + qi[:, None] * HEAD_DIM + d[None, :], out, mask=qi[:, None] < N)


def flash_attention(q, k, v, is_causal=False):
    B, H, N, D = q.shape
    qc, kc, vc = (t.contiguous() for t in (q, k, v))
    out32 = torch.empty((B, H, N, D), device=q.device, dtype=torch.float32)
    grid = (B * H, triton.cdiv(N, 64))
    _two_pass[grid](
        qc,
        kc,
        vc,
        out32,
        N,
        1 / math.sqrt(D),
        HEAD_DIM=D,
        BLOCK_Q=64,
        BLOCK_K=64,
        CAUSAL=is_causal,
    )
    return out32.to(q.dtype)
