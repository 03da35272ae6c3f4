# Written from the contract alone, by a writer who had not read this card's verifier.
"""Split-K matmul: the K dimension is cut into SPLIT slabs, each program
computes one (BLOCK_M x BLOCK_N) fp32 partial for one slab into a workspace,
and a second kernel sums the slabs in fp32 and casts once to the input dtype.
Split-K keeps the GPU busy when M*N is small but K is large."""

import torch
import triton
import triton.language as tl


@triton.jit
def _partial_kernel(
    a_ptr,
    b_ptr,
    ws_ptr,
    M,
    N,
    K,
    k_per_split,
    sam,
    sak,
    sbk,
    sbn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_s = tl.program_id(2)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    k_lo = pid_s * k_per_split
    k_hi = tl.minimum(k_lo + k_per_split, K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(k_lo, k_hi, BLOCK_K):
        kk = k0 + rk
        a = tl.load(
            a_ptr + rm[:, None].to(tl.int64) * sam + kk[None, :] * sak,
            mask=(rm[:, None] < M) & (kk[None, :] < k_hi),
            other=0.0,
        )
        b = tl.load(
            b_ptr + kk[:, None].to(tl.int64) * sbk + rn[None, :] * sbn,
            mask=(kk[:, None] < k_hi) & (rn[None, :] < N),
            other=0.0,
        )
        acc += tl.dot(a, b)  # fp32 accumulator
    ws = (
        ws_ptr + pid_s.to(tl.int64) * M * N + rm[:, None].to(tl.int64) * N + rn[None, :]
    )
    tl.store(ws, acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def _reduce_kernel(ws_ptr, c_ptr, MN, SPLIT: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < MN
    total = tl.zeros((BLOCK,), dtype=tl.float32)
    for s in range(SPLIT):
        total += tl.load(ws_ptr + s * MN + offs, mask=mask, other=0.0)
    tl.store(c_ptr + offs, total.to(c_ptr.dtype.element_ty), mask=mask)


def matmul(a, b):
    assert a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[0]
    assert a.dtype == b.dtype and a.dtype in (torch.float16, torch.bfloat16)
    M, K = a.shape
    N = b.shape[1]
    BLOCK_M, BLOCK_N, BLOCK_K = 64, 64, 32
    # pick the number of K slabs: more when the output tile grid is small
    tiles = triton.cdiv(M, BLOCK_M) * triton.cdiv(N, BLOCK_N)
    split = 1
    while split < 8 and tiles * split < 64 and K // (split * 2) >= 2 * BLOCK_K:
        split *= 2
    k_per_split = triton.cdiv(triton.cdiv(K, split), BLOCK_K) * BLOCK_K
    split = triton.cdiv(K, k_per_split)
    ws = torch.empty((split, M, N), dtype=torch.float32, device=a.device)
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    grid = (triton.cdiv(M, BLOCK_M), triton.cdiv(N, BLOCK_N), split)
    _partial_kernel[grid](
        a,
        b,
        ws,
        M,
        N,
        K,
        k_per_split,
        a.stride(0),
        a.stride(1),
        b.stride(0),
        b.stride(1),
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_K=BLOCK_K,
    )
    BLOCK = 1024
    _reduce_kernel[(triton.cdiv(M * N, BLOCK),)](ws, c, M * N, SPLIT=split, BLOCK=BLOCK)
    return c
