"""An experiment, not a card: the flash-attention reference with K and V fetched by the TMA
copy engine through tensor descriptors (Hopper's bulk tensor copies: no per-element addresses,
no load masks, rows past N come back as zeros), where the strides allow; to time beside the
reference on a GPU (`bench/kernels.py --variants`). Adopted into the card only if it is faster
there."""

import math

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor


@triton.jit
def _attend_blocks(
    acc, l_i, m_i, q, k_base, v_base, rows, offs_n, offs_d, lo, hi, N,
    stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
    BLOCK_N: tl.constexpr, MASKED: tl.constexpr, IS_CAUSAL: tl.constexpr,
    desc_k, desc_v, b32, h32, D: tl.constexpr, USE_TMA: tl.constexpr,
):  # fmt: skip
    """Fold key/value blocks [lo, hi) into (acc, l_i, m_i). MASKED: this range holds the diagonal
    (causal) or the ragged end of N, so loads and scores are masked; else nothing is."""
    for start_n in tl.range(lo, hi, BLOCK_N):
        cols = start_n + offs_n  # (BLOCK_N,) key positions
        if USE_TMA:
            # The copy engine fetches the (BLOCK_N, D) tile, rows past N as zeros: no address
            # arithmetic and no load masks in the loop.
            k = desc_k.load([b32, h32, start_n, 0]).reshape(BLOCK_N, D)
            v = desc_v.load([b32, h32, start_n, 0]).reshape(BLOCK_N, D)
        else:
            k_ptrs = k_base + cols[:, None] * stride_kn + offs_d[None, :] * stride_kd
            v_ptrs = v_base + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd
            if MASKED:
                k = tl.load(k_ptrs, mask=cols[:, None] < N, other=0.0)  # (BLOCK_N, D)
                v = tl.load(v_ptrs, mask=cols[:, None] < N, other=0.0)
            else:
                k = tl.load(k_ptrs)
                v = tl.load(v_ptrs)
        s = tl.dot(q, tl.trans(k))  # (BLOCK_M, BLOCK_N) raw scores, fp32
        if MASKED:
            keep = cols[None, :] < N
            if IS_CAUSAL:  # key j is visible to query i iff j <= i
                keep = keep & (cols[None, :] <= rows[:, None])
            s = tl.where(keep, s, -float("inf"))
        # Running max in the log2 domain: m = max(scores) * scale * log2(e).
        m_new = tl.maximum(m_i, tl.max(s, 1) * qk_scale)
        # p = exp((s - max) / sqrt(D)) as one multiply-subtract and exp2; 0 where masked.
        p = tl.math.exp2(s * qk_scale - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)  # rescales what was summed under the old max
        l_i = l_i * alpha + tl.sum(p, 1)
        # P in the input dtype: the second product runs on tensor cores, accumulating in fp32.
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _flash_fwd_kernel(
    Q, K, V, O, H, N, qk_scale,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_ob, stride_oh, stride_on, stride_od,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, IS_CAUSAL: tl.constexpr,
    desc_k, desc_v, USE_TMA: tl.constexpr,
):  # fmt: skip
    if IS_CAUSAL:  # heaviest blocks (most keys) first: less idle tail in the last wave
        start_m = tl.num_programs(0) - 1 - tl.program_id(0)
    else:
        start_m = tl.program_id(0)
    bh = tl.program_id(1)
    # int64: batch·head offsets overflow int32 on big tensors.
    b32 = bh // H  # the descriptors take int32 coordinates
    h32 = bh % H
    b = b32.to(tl.int64)
    h = h32.to(tl.int64)

    rows = start_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,) query positions
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D)
    # Every access goes through the strides: a transposed (B, N, H, D) view works as it is.
    q_ptrs = (
        Q
        + b * stride_qb
        + h * stride_qh
        + rows[:, None] * stride_qn
        + offs_d[None, :] * stride_qd
    )
    # (BLOCK_M, D), loaded once and kept on chip for the whole loop.
    q = tl.load(q_ptrs, mask=rows[:, None] < N, other=0.0)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh

    m_i = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, D), dtype=tl.float32)

    if IS_CAUSAL:
        # Keys below this block's diagonal are visible to every row: no mask. (BLOCK_M is a
        # multiple of BLOCK_N, and these keys all lie before N.)
        diag = start_m * BLOCK_M
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, k_base, v_base, rows, offs_n, offs_d, 0, diag, N,
            stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
            BLOCK_N, False, IS_CAUSAL, desc_k, desc_v, b32, h32, D, USE_TMA,
        )  # fmt: skip
        # The diagonal blocks, masked; the keys past them are never touched.
        hi = tl.minimum(diag + BLOCK_M, N)
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, k_base, v_base, rows, offs_n, offs_d, diag, hi, N,
            stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
            BLOCK_N, True, IS_CAUSAL, desc_k, desc_v, b32, h32, D, USE_TMA,
        )  # fmt: skip
    else:
        full = (N // BLOCK_N) * BLOCK_N  # whole key blocks: no mask
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, k_base, v_base, rows, offs_n, offs_d, 0, full, N,
            stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
            BLOCK_N, False, IS_CAUSAL, desc_k, desc_v, b32, h32, D, USE_TMA,
        )  # fmt: skip
        # The ragged last block (none when BLOCK_N divides N), masked.
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, k_base, v_base, rows, offs_n, offs_d, full, N, N,
            stride_kn, stride_kd, stride_vn, stride_vd, qk_scale,
            BLOCK_N, True, IS_CAUSAL, desc_k, desc_v, b32, h32, D, USE_TMA,
        )  # fmt: skip

    out = acc / l_i[:, None]  # the one normalisation (rows past N are never stored)
    o_ptrs = (
        O
        + b * stride_ob
        + h * stride_oh
        + rows[:, None] * stride_on
        + offs_d[None, :] * stride_od
    )
    tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=rows[:, None] < N)


def _tma_ok(t: torch.Tensor) -> bool:
    """A tensor the copy engine can tile: unit stride along D, the other strides and the base
    16-byte aligned (a (B, N, H, D) view transposed qualifies)."""
    size = t.element_size()
    return (
        t.stride(-1) == 1
        and t.data_ptr() % 16 == 0
        and all(s * size % 16 == 0 for s in t.stride()[:-1])
    )


def _config(N: int, D: int) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, num_warps, num_stages) by shape; BLOCK_M is a multiple of BLOCK_N.
    Long sequences: 128-row query blocks (two warpgroups of wgmma at D = 128, one below) and
    three stages of K/V prefetch, which fit Hopper's shared memory at every D. Short ones
    (and the interpreter's test sizes): small blocks."""
    if N <= 256:
        return 32, 32, 4, 2
    if D == 128:
        return 128, 64, 8, 3
    return 128, 64, 4, 3


def flash_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False
):
    B, H, N, D = q.shape  # (B, H, N, D); k and v alike
    assert D in (16, 32, 64, 128), f"head dim {D} is not 16, 32, 64 or 128"
    o = torch.empty((B, H, N, D), dtype=q.dtype, device=q.device)
    BLOCK_M, BLOCK_N, num_warps, num_stages = _config(N, D)
    qk_scale = math.log2(math.e) / math.sqrt(D)  # exp(x / sqrt(D)) = exp2(x * qk_scale)
    # Axis 0 varies fastest: one head's query blocks run together and share its K/V in L2.
    grid = (triton.cdiv(N, BLOCK_M), B * H)
    use_tma = _tma_ok(k) and _tma_ok(v)
    if use_tma:
        desc_k = TensorDescriptor(
            k, list(k.shape), list(k.stride()), [1, 1, BLOCK_N, D]
        )
        desc_v = TensorDescriptor(
            v, list(v.shape), list(v.stride()), [1, 1, BLOCK_N, D]
        )
    else:  # unused: the kernel's pointer path reads k and v
        desc_k, desc_v = k, v
    _flash_fwd_kernel[grid](
        q, k, v, o, H, N, qk_scale,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        D=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, IS_CAUSAL=bool(is_causal),
        desc_k=desc_k, desc_v=desc_v, USE_TMA=use_tma,
        num_warps=num_warps, num_stages=num_stages,
    )  # fmt: skip
    return o
