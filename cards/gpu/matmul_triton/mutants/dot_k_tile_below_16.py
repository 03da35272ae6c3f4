# expect: K >= 16
# Runs under the interpreter; the GPU compiler rejects a tl.dot whose K side is under 16.
import torch
import triton
import triton.language as tl


@triton.jit
def _matmul_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    M,
    N,
    K,
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_cn,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
    EVEN_K: tl.constexpr,  # K % BLOCK_K == 0: the K loads need no mask
):
    # Grouped ordering: walk GROUP_M tile-rows down one tile-column before moving right, so the
    # programs running together reuse each other's A and B tiles through L2.
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * GROUP_M
    # The last group may be shorter than GROUP_M tile-rows.
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + (pid % num_pid_in_group) % group_size_m
    pid_n = (pid % num_pid_in_group) // group_size_m

    # Rows past M and columns past N wrap onto valid ones (% M, % N): the loads stay in bounds
    # without an M/N mask, and only the store is masked.
    offs_m = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_n = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    # Strides, not shapes, address the inputs: transposed or sliced views work as they are.
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn

    # fp32, whatever the input dtype.
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(tl.cdiv(K, BLOCK_K)):
        if EVEN_K:
            a = tl.load(a_ptrs)
            b = tl.load(b_ptrs)
        else:  # the last K tile is partial: zeros past K add nothing to the dot
            k_left = K - k * BLOCK_K
            a = tl.load(a_ptrs, mask=offs_k[None, :] < k_left, other=0.0)
            b = tl.load(b_ptrs, mask=offs_k[:, None] < k_left, other=0.0)
        acc = tl.dot(a, b, acc)  # tensor cores: half inputs, fp32 accumulate
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + rows[:, None] * stride_cm + cols[None, :] * stride_cn
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    # One rounding to the output dtype, at the very end.
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=mask)


def _config(M: int, N: int) -> tuple[int, int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) by shape; no autotuning.
    Large: the Hopper sweet spot (3 stages of 128×64 + 64×256 fp16 tiles = 144 KiB of shared
    memory). Small: tiles near the problem size (tl.dot needs every side >= 16)."""
    if M >= 1024 and N >= 1024:
        return 128, 256, 64, 8, 3
    if M >= 128 and N >= 128:
        return 128, 128, 64, 4, 4
    return 32, 32, 8, 4, 2


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    M, K = a.shape  # (M, K)
    K2, N = b.shape  # (K, N)
    assert K == K2, f"inner dimensions differ: {K} and {K2}"
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)  # (M, N), input dtype
    BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages = _config(M, N)
    # cdiv: the partial tiles at the bottom and right edges get programs too.
    grid = (triton.cdiv(M, BLOCK_M) * triton.cdiv(N, BLOCK_N),)
    _matmul_kernel[grid](
        a,
        b,
        c,
        M,
        N,
        K,
        a.stride(0),
        a.stride(1),
        b.stride(0),
        b.stride(1),
        c.stride(0),
        c.stride(1),
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_K=BLOCK_K,
        GROUP_M=8,
        EVEN_K=K % BLOCK_K == 0,
        num_warps=num_warps,
        num_stages=num_stages,
    )
    return c
