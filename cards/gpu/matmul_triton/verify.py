"""Verifier for the Triton matmul kernel: against a float64 matmul of the same half-precision
inputs, and proof that the attempt's own Triton kernel did the work.

Every call goes through `_call`: inputs must stay unchanged, the attempt's kernel must do all the
math (`cards.kernels.KernelWatch`), and fresh outputs are poisoned (deterministic mode fills
`torch.empty` with NaN) so an output tile no program wrote shows up as NaN. bf16 is graded on
CUDA only: Triton's interpreter gets bf16 `tl.dot` wrong on the CPU.
"""

import pytest
import torch

from cards.checks import (
    DIAGNOSIS_ERRORS,
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    matches,
    randn,
    tolerance,
)
from cards.compile_check import compile_test
from cards.kernels import (
    OLD_INTERPRETER,
    KernelWatch,
    poisoned_empty,
    skip_bf16_off_gpu,
    storage_view,
)
from cards.speed import measure

HALF = [torch.float16, torch.bfloat16]


def _call(impl, a, b):
    """impl.matmul(a, b), checking that a and b are left alone and the attempt's kernel did it."""
    before = a.clone(), b.clone()
    with poisoned_empty(), KernelWatch(impl, "matmul") as watch:
        try:
            out = call(impl.matmul, a, b, what="matmul")
        except Exception as exc:
            if OLD_INTERPRETER not in str(exc):
                raise
            pytest.fail(
                f"{type(exc).__name__}: {exc}. This Triton's interpreter cannot loop over a runtime "
                "bound (`range(0, tl.cdiv(K, BLOCK_K))`) with this NumPy: upgrade Triton, or pass "
                "the trip count as a tl.constexpr. On a GPU the kernel would compile as written."
            )
    assert_unchanged(before[0], a, "a")
    assert_unchanged(before[1], b, "b")
    watch.check(out)
    assert out.untyped_storage().data_ptr() not in (
        a.untyped_storage().data_ptr(),
        b.untyped_storage().data_ptr(),
    ), "matmul returned a view of an input: it must return a new tensor"
    return out


def _exact(a, b):
    """a @ b in float64 on the CPU, from the same half-precision values."""
    return a.detach().to("cpu", torch.float64) @ b.detach().to("cpu", torch.float64)


def _variants(a, b) -> list:
    """[(the mistake in the user's words, a @ b as that mistake computes it)]."""
    a64, b64 = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
    (M, K), N = a.shape, b.shape[1]
    out = []
    # a loop of K // BLOCK_K drops the partial last K tile
    for bk in (
        16,
        32,
        64,
        128,
        256,
    ):
        k0 = K // bk * bk
        if k0 < K:
            out.append(
                (
                    (
                        "the last partial tile along K is dropped: the K loop runs K // BLOCK_K "
                        "times; loop tl.cdiv(K, BLOCK_K) times and mask the loads past K"
                    ),
                    a64[:, :k0] @ b64[:k0],
                )
            )
    fix = "; pass the strides to the kernel (a.stride(0), a.stride(1), ...) or call .contiguous()"
    a_flat = storage_view(a, (M, K), (K, 1))
    b_flat = storage_view(b, (K, N), (N, 1))
    if not a.is_contiguous() and a_flat is not None:
        out.append(
            (
                "the kernel ignores the strides of a: it reads a as contiguous" + fix,
                a_flat @ b64,
            )
        )
    if not b.is_contiguous() and b_flat is not None:
        out.append(
            (
                "the kernel ignores the strides of b: it reads b as contiguous" + fix,
                a64 @ b_flat,
            )
        )
    if (
        a_flat is not None
        and b_flat is not None
        and not (a.is_contiguous() or b.is_contiguous())
    ):
        out.append(
            (
                "the kernel ignores the strides of a and b: it reads them as contiguous"
                + fix,
                a_flat @ b_flat,
            )
        )
    if M == K == N:
        out.append(
            ("computes a @ b.T: b is read as (N, K) instead of (K, N)", a64 @ b64.T)
        )
        out.append(
            ("computes a.T @ b: a is read as (K, M) instead of (M, K)", a64.T @ b64)
        )
    return out


def _padded(t):
    """A copy of t with t's strides, at the start of a buffer twice its extent whose tail is
    zeros: what a kernel reads past t's end is then 0, not whatever memory follows."""
    if 0 in t.stride():  # an expanded tensor: a copy may not overlap itself
        t = t.contiguous()
    extent = 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))
    buffer = torch.zeros(2 * extent + 64, dtype=t.dtype, device=t.device)
    return buffer.as_strided(t.shape, t.stride()).copy_(t)


def _right_with_zeros_after(impl, a, b, expected, atol, rtol) -> bool:
    """Whether the attempt gets `expected` once zeros follow both inputs. What lies past an
    input's end is NaN, zeros or another tensor's numbers (on a GPU, whatever the allocator put
    there): a kernel whose unmasked loads read past the end is right only with zeros there."""
    try:
        again = _call(impl, _padded(a), _padded(b))
    except (AssertionError, *DIAGNOSIS_ERRORS):
        return False
    return isinstance(again, torch.Tensor) and matches(
        again.detach().to("cpu", torch.float64),
        expected.to("cpu", torch.float64),
        atol,
        rtol,
    )


def _assert_written(out, context, impl=None, a=None, b=None):
    """NaN where the expected value is finite: output tiles that no program stored, or values
    computed from memory read past the end of an input. With the inputs, the call is rerun with
    each inside a larger finite buffer to tell the two apart."""
    if not (
        isinstance(out, torch.Tensor) and out.dim() == 2 and out.is_floating_point()
    ):
        return
    nan = torch.isnan(out.detach().to("cpu", torch.float32))
    if not nan.any():
        return
    rows = nan.any(1).nonzero().flatten().tolist()
    cols = nan.any(0).nonzero().flatten().tolist()
    where = f"rows {rows[0]}..{rows[-1]}, columns {cols[0]}..{cols[-1]}"
    if impl is not None:
        again = _call(impl, _padded(a), _padded(b))
        if not torch.isnan(again.detach().to("cpu", torch.float32)).any():
            raise AssertionError(
                f"output [{context}]: {int(nan.sum())} of {out.numel()} values are NaN ({where}) "
                "because the kernel reads past the end of a or b: with finite memory after the "
                "inputs they are numbers. Mask every load along K with the offsets of this K "
                "step (k * BLOCK_K + offs_k < K), and along M and N with the tile's offsets"
            )
    raise AssertionError(
        f"output [{context}]: {int(nan.sum())} of {out.numel()} values were never written "
        f"(they still hold the NaN poison of torch.empty; {where}): the grid must cover every "
        "tile (triton.cdiv(M, BLOCK_M) x triton.cdiv(N, BLOCK_N)), each program must map to its "
        "own tile (check the grouped pid_m / pid_n arithmetic), and every tile must be stored"
    )


def _check(impl, a, b, context):
    out = _call(impl, a, b)
    _assert_written(out, context, impl, a, b)
    atol, rtol = tolerance(a.dtype)
    expected = _exact(a, b).to(a.device, a.dtype)
    try:
        assert_close_diagnosed(
            out,
            expected,
            lambda: _variants(a, b),
            atol=atol,
            rtol=rtol,
            context=context,
        )
    except AssertionError as exc:
        if _right_with_zeros_after(impl, a, b, expected, atol, rtol):
            raise AssertionError(
                f"{exc}\nlikely bug: the kernel reads past the end of a or b (with zeros after "
                "the inputs the result is right): mask every load along K with the offsets of "
                "this K step (k * BLOCK_K + offs_k < K), and along M and N with the tile's "
                "offsets"
            ) from None
        raise
    return out


def _desc(dtype, a, b):
    return f"{dtype} a {tuple(a.shape)} @ b {tuple(b.shape)}"


def test_the_kernel_does_the_work(impl, device):
    a = randn((37, 45), 0, device, torch.float16)
    b = randn((45, 29), 1, device, torch.float16)
    _check(impl, a, b, _desc(torch.float16, a, b))


# (M, K, N): sizes that are not multiples of any block, a single row/column, K = 1, several
# tiles each way (with a partial last group of tile rows), and one exactly tiled case.
SHAPES = [(1, 1, 1), (1, 40, 3), (5, 1, 7), (33, 70, 20), (100, 50, 70), (64, 64, 32)]


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_a_float64_matmul(impl, device, shape, dtype):
    skip_bf16_off_gpu(device, dtype)
    M, K, N = shape
    a = randn((M, K), M + K, device, dtype)
    b = randn((K, N), K + N, device, dtype)
    _check(impl, a, b, _desc(dtype, a, b))


def test_square_inputs_are_not_transposed(impl, device):
    # Square, so reading b as (N, K) or a as (K, M) keeps the shape but not the values.
    a = randn((48, 48), 2, device, torch.float16)
    b = randn((48, 48), 3, device, torch.float16)
    _check(impl, a, b, _desc(torch.float16, a, b))


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_accumulates_in_float32(impl, device, dtype):
    # a = [x, x] and b = [y; -y] + small e: the running sum over K climbs to about +-600 and
    # falls back to a@e (tens). A float32 sum keeps the small terms (error ~1e-3); a half-
    # precision one rounds to 0.25-0.5 at that height on every step and misses by units.
    skip_bf16_off_gpu(device, dtype)
    M, half_k, N = 24, 96, 20
    x = randn((M, half_k), 4, "cpu", torch.float64).abs() + 2.0
    y = randn((half_k, N), 5, "cpu", torch.float64).abs() + 2.0
    e = randn((2 * half_k, N), 6, "cpu", torch.float64, scale=0.25)
    a = torch.cat([x, x], dim=1).to(device=device, dtype=dtype)
    b = (torch.cat([y, -y], dim=0) + e).to(device=device, dtype=dtype)
    # The same shapes without the cancellation first: a failure below is then about precision.
    plain = randn(tuple(b.shape), 7, device, dtype)
    _check(impl, a, plain, _desc(dtype, a, plain))
    out = _call(impl, a, b)
    _assert_written(out, "cancelling sums")
    # atol 0.05: room for tensor cores' fp32 adds (which truncate) at a height of ~600, still
    # ten times below what a half-precision running sum loses here.
    atol, rtol = 0.05, tolerance(dtype)[1]
    try:
        assert_close_diagnosed(
            out,
            _exact(a, b).to(a.device, dtype),
            lambda: _variants(a, b),
            atol=atol,
            rtol=rtol,
            context=f"{_desc(dtype, a, b)} whose partial sums reach about 600 and cancel",
        )
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nlikely bug: the sum over K was accumulated in half precision (a "
            f"{dtype} accumulator, tl.dot(..., out_dtype={str(dtype).replace('torch', 'tl')}), "
            "or the running sum cast down each step); the same shapes without cancellation "
            "pass, so the small terms were lost to rounding: keep the accumulator in tl.float32 "
            "and cast once, at the store"
        ) from None


def test_returns_the_input_dtype(impl, device):
    a = randn((20, 30), 8, device, torch.float16)
    b = randn((30, 10), 9, device, torch.float16)
    out = _check(impl, a, b, _desc(torch.float16, a, b))
    assert out.shape == (20, 10) and out.device.type == torch.device(device).type


# Non-contiguous inputs: transposed views, a column-strided slice, an offset sub-block.


def _views(device, dtype, M, K, N):
    a_t = randn((K, M), 10, device, dtype).t()  # (M, K) with strides (1, M)
    b_t = randn((N, K), 11, device, dtype).t()  # (K, N) with strides (1, K)
    a_s = randn((M, 2 * K), 12, device, dtype)[:, ::2]  # column stride 2
    # offset, row stride
    b_s = randn((K + 5, N + 9), 13, device, dtype)[3 : 3 + K, 4 : 4 + N]
    return {
        "a_transposed": (a_t, randn((K, N), 14, device, dtype)),
        "b_transposed": (randn((M, K), 15, device, dtype), b_t),
        "both_transposed": (a_t, b_t),
        "strided_slices": (a_s, b_s),
    }


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize(
    "view", ["a_transposed", "b_transposed", "both_transposed", "strided_slices"]
)
def test_non_contiguous_inputs(impl, device, view, dtype):
    skip_bf16_off_gpu(device, dtype)
    a, b = _views(device, dtype, 35, 41, 27)[view]
    assert not (a.is_contiguous() and b.is_contiguous()), (
        "verifier bug: expected a view"
    )
    context = f"{view}: {_desc(dtype, a, b)}, strides {a.stride()} and {b.stride()}"
    _check(impl, a, b, context)


def test_second_call_on_fresh_inputs(impl, device):
    # Same shapes twice (the compiled kernel is reused): nothing may leak between calls.
    for seed in (20, 21):
        a = randn((19, 33), seed, device, torch.float16)
        b = randn((33, 21), seed + 50, device, torch.float16)
        _check(impl, a, b, f"{_desc(torch.float16, a, b)}, seed {seed}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="large shapes on CUDA only")
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_large_shapes_on_cuda(impl, device, dtype):
    if device != "cuda":
        pytest.skip("large shapes on CUDA only (the interpreter is slow)")
    for M, K, N in [(1000, 1500, 700), (2048, 512, 2048)]:
        a = randn((M, K), M, device, dtype)
        b = randn((K, N), N, device, dtype)
        _check(impl, a, b, _desc(dtype, a, b))


def test_speed(impl, device, speed_report):
    """On a GPU: the attempt beside torch.matmul on float16 4096 x 4096 x 4096 (2 M N K FLOPs
    a call), then correct again on fresh inputs (against a float32 product on the GPU)."""
    if device != "cuda":
        pytest.skip("speed is measured on a GPU")
    n = 4096
    a, b = (
        randn((n, n), 30, device, torch.float16),
        randn((n, n), 31, device, torch.float16),
    )

    def recheck():
        a2, b2 = (
            randn((n, n), 32, device, torch.float16),
            randn((n, n), 33, device, torch.float16),
        )
        out = impl.matmul(a2, b2)
        expected = (a2.float() @ b2.float()).half()
        assert_close(
            out, expected, atol=0.25, rtol=2e-2, context="fresh inputs after the timing"
        )

    measure(
        speed_report,
        lambda: impl.matmul(a, b),
        lambda: torch.matmul(a, b),
        work=2 * n**3,
        unit="TFLOP/s",
        recheck=recheck,
    )


def _gpu_launches(impl):
    """The launches compiled for a GPU off one (shapes up to the speed test's, a transposed
    input among them; not run)."""
    for dtype in HALF:
        for M, N, K in ((1, 1, 1), (33, 17, 9), (4096, 4096, 4096)):
            impl.matmul(torch.empty(M, K, dtype=dtype), torch.empty(K, N, dtype=dtype))
    a_t = torch.empty(4096, 4096, dtype=torch.float16).t()
    impl.matmul(a_t, torch.empty(4096, 4096, dtype=torch.float16))


test_compiles_for_a_gpu = compile_test(_gpu_launches)
