"""Element-wise add as a Triton kernel: the "hello world" of Triton (the "Vector Addition"
tutorial, triton-lang.org).

Each program owns one BLOCK of the flattened tensors, loads x and y, adds, stores. The add is
memory-bound (12 bytes moved per fp32 element, one FLOP), so speed is all about streaming: wide
blocks and coalesced, vectorised loads, which contiguous memory gives for free.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    # (BLOCK,) flat indices of this program's tile
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    # the last tile runs past the end: masked lanes neither load nor store
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    # same dtype in and out: bit for bit x + y
    tl.store(out_ptr + offs, x + y, mask=mask)


def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # A strided view (transposed, sliced, expanded) is copied once into row-major order, so one
    # flat index means the same element in x, y and out; a contiguous input is not copied.
    x = x.contiguous()
    y = y.contiguous()
    # row-major, like x and y now
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    n = out.numel()
    # BLOCK = 1024 with 4 warps: 8 elements per thread, i.e. 128-bit loads for fp16/bf16 and two
    # for fp32; enough bytes in flight per SM to saturate HBM. cdiv covers the ragged tail.
    BLOCK = 1024
    _add_kernel[(triton.cdiv(n, BLOCK),)](x, y, out, n, BLOCK=BLOCK)
    return out
