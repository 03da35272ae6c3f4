# Written from the prompt alone: copy the inputs to row-major, size the tiles to the problem.
import torch
import triton
import triton.language as tl


@triton.jit
def _gemm(
    A,
    B,
    C,
    M,
    N,
    K,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    n_tiles_n = tl.cdiv(N, BLOCK_N)
    tm = pid // n_tiles_n
    tn = pid % n_tiles_n
    rows = tm * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tn * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for kk in range(0, K, BLOCK_K):
        ks = kk + tl.arange(0, BLOCK_K)
        x = tl.load(
            A + rows[:, None] * K + ks[None, :],
            mask=(rows[:, None] < M) & (ks[None, :] < K),
            other=0.0,
        )
        y = tl.load(
            B + ks[:, None] * N + cols[None, :],
            mask=(ks[:, None] < K) & (cols[None, :] < N),
            other=0.0,
        )
        acc += tl.dot(x, y)
    out = acc.to(C.dtype.element_ty)
    tl.store(
        C + rows[:, None] * N + cols[None, :],
        out,
        mask=(rows[:, None] < M) & (cols[None, :] < N),
    )


def _tile(n, cap):
    return max(16, min(cap, triton.next_power_of_2(n)))


def matmul(a, b):
    a = a.contiguous()
    b = b.contiguous()
    M, K = a.shape
    N = b.shape[1]
    c = torch.empty(M, N, device=a.device, dtype=a.dtype)
    bm, bn, bk = _tile(M, 64), _tile(N, 64), _tile(K, 32)
    grid = (triton.cdiv(M, bm) * triton.cdiv(N, bn),)
    _gemm[grid](a, b, c, M, N, K, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk)
    return c
