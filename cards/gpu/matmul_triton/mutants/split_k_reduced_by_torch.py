# expect: ran outside your kernel
import torch
import triton
import triton.language as tl


@triton.jit
def _partial_kernel(a_ptr, b_ptr, p_ptr, M, N, K, sam, sak, sbk, sbn,
                    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    # Split-K: program (m, n, s) multiplies the s-th K tile only and writes an fp32 partial.
    pid_m, pid_n, s = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    ks = s * BK + tl.arange(0, BK)
    a = tl.load(a_ptr + rm[:, None] * sam + ks[None, :] * sak,
                mask=(rm[:, None] < M) & (ks[None, :] < K), other=0.0)
    b = tl.load(b_ptr + ks[:, None] * sbk + rn[None, :] * sbn,
                mask=(ks[:, None] < K) & (rn[None, :] < N), other=0.0)
    p = tl.dot(a, b)
    base = p_ptr + s * M * N
    tl.store(base + rm[:, None] * N + rn[None, :], p, mask=(rm[:, None] < M) & (rn[None, :] < N))


def matmul(a, b):
    M, K = a.shape
    N = b.shape[1]
    splits = triton.cdiv(K, 32)
    partial = torch.empty((splits, M, N), dtype=torch.float32, device=a.device)
    grid = (triton.cdiv(M, 32), triton.cdiv(N, 32), splits)
    _partial_kernel[grid](a, b, partial, M, N, K, a.stride(0), a.stride(1), b.stride(0),
                          b.stride(1), BM=32, BN=32, BK=32)
    return partial.sum(0).to(a.dtype)  # bug (dodge): torch does the split-K reduction
