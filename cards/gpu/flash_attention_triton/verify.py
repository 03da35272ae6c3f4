"""Verifier for the Triton FlashAttention forward: against torch's SDPA run in float64 on the CPU
(scale 1/sqrt(D), causal top-left), proof that the attempt's own Triton kernel did the work, and
proof that no N×N matrix exists in memory.

Every call goes through `_call`: inputs must stay unchanged; `cards.kernels.KernelWatch` checks
that the attempt's kernel did all the math; fresh outputs are poisoned (deterministic mode fills
`torch.empty` with NaN) so rows no program stored show up; a `TensorWatch` and a look at every
kernel launch's tensor arguments catch an N×N (or larger) buffer. bf16 is graded on CUDA only:
Triton's interpreter gets bf16 `tl.dot` wrong on the CPU.

A failed comparison names the known mistake the attempt reproduces: the online softmax in
float64 over key blocks of 16..128 with one thing changed (the accumulator or the sum not
rescaled, the last partial block dropped), the scale wrong (none, 1/D, exp2 without log2(e)),
the causal mask ignored or excluding the diagonal, the strides ignored.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    TensorWatch,
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    diagnose,
    randn,
    tolerance,
)
from cards.compile_check import compile_test
from cards.kernels import (
    OLD_INTERPRETER,
    KernelWatch,
    _tensors,
    poisoned_empty,
    skip_bf16_off_gpu,
    storage_view,
)
from cards.speed import measure

HALF = [torch.float16, torch.bfloat16]
BLOCKS = (16, 32, 64, 128)  # key block sizes an attempt may use


class _LaunchWatch(KernelWatch):
    """KernelWatch that also records the largest storage (in elements) passed to a kernel."""

    largest = 0

    def _launched(self, fn, values):
        for t in _tensors(values):
            elements = t.untyped_storage().nbytes() // max(t.element_size(), 1)
            self.largest = max(self.largest, elements)
        super()._launched(fn, values)


class _SquareWatch(TensorWatch):
    """TensorWatch outside kernel launches and the launch watch's bookkeeping: both alias
    tensor arguments' storage (as bytes, too), which is no tensor the attempt made."""

    def __init__(self, too_big, path, launches):
        super().__init__(too_big, path)
        self.launches = launches

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.launches.depth or self.launches.quiet:
            return func(*args, **(kwargs or {}))
        return super().__torch_dispatch__(func, types, args, kwargs)


def _call(impl, q, k, v, is_causal):
    """impl.flash_attention(q, k, v, is_causal=...), checking inputs, the kernel's work and that
    no tensor of N·N elements or more is made or handed to a kernel."""
    N = q.shape[-2]
    before = [t.clone() for t in (q, k, v)]
    inputs = max(t.untyped_storage().nbytes() // t.element_size() for t in (q, k, v))
    # Only meaningful where N·N exceeds every legitimate buffer (inputs, output, row stats).
    square = N * N if N * N > 2 * inputs else None
    path = getattr(impl, "__file__", None) or ""
    watch = _LaunchWatch(impl, "flash_attention")
    tensors = _SquareWatch(
        lambda t: square is not None and t.numel() >= square, path, watch
    )
    with poisoned_empty(), tensors, watch:
        try:
            out = call(
                impl.flash_attention,
                q,
                k,
                v,
                is_causal=is_causal,
                what="flash_attention",
            )
        except Exception as exc:
            if OLD_INTERPRETER not in str(exc):
                raise
            pytest.fail(
                f"{type(exc).__name__}: {exc}. This Triton's interpreter cannot loop over a runtime "
                "bound with this NumPy: upgrade Triton, or pass the trip count as a tl.constexpr. "
                "On a GPU the kernel would compile as written."
            )
    if tensors.found is not None:
        op, shape, line = tensors.found
        where = f" (your line {line})" if line else ""
        raise AssertionError(
            f"{op} made a tensor of shape {shape}{where}, N·N = {square} elements or more for "
            f"N = {N}: FlashAttention never holds the N×N scores in memory; keep each block of "
            "scores in the kernel (registers) and fold it into a running max, sum and output"
        )
    for name, old, new in zip("qkv", before, (q, k, v)):
        assert_unchanged(old, new, name)
    watch.check(out)
    if square is not None and watch.largest >= square:
        raise AssertionError(
            f"a kernel was given a buffer of {watch.largest} elements, N·N = {square} or more "
            f"for N = {N}: FlashAttention never writes the N×N scores to memory; keep each block "
            "of scores in the kernel and fold it into a running max, sum and output"
        )
    assert all(
        out.untyped_storage().data_ptr() != t.untyped_storage().data_ptr()
        for t in (q, k, v)
    ), "flash_attention returned a view of an input: it must return a new tensor"
    return out


def _expected(q, k, v, is_causal):
    """torch's SDPA in float64 on the CPU (scale 1/sqrt(D), causal top-left), in q's dtype and
    on q's device."""
    q64, k64, v64 = (t.detach().to("cpu", torch.float64) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q64, k64, v64, is_causal=is_causal)
    return out.to(q.device, q.dtype)


def _online(
    q, k, v, block, causal, scale, rescale_acc=True, rescale_sum=True, drop_tail=False
):
    """Online softmax over key blocks of `block`, float64, with knobs for known mistakes.
    causal: None, "top_left" (j <= i) or "strict" (j < i)."""
    N = q.size(-2)
    i = torch.arange(N)[:, None]
    m = torch.full((*q.shape[:-1], 1), float("-inf"), dtype=torch.float64)
    total = torch.zeros_like(m)
    acc = torch.zeros_like(q)
    stop = N - N % block if drop_tail else N
    for k0 in range(0, stop, block):
        s = (q @ k[..., k0 : k0 + block, :].transpose(-2, -1)) * scale
        j = torch.arange(k0, k0 + s.size(-1))[None, :]
        hidden = {None: None, "top_left": j > i, "strict": j >= i}[causal]
        if hidden is not None:
            s = s.masked_fill(hidden, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        p = torch.nan_to_num(torch.exp(s - m_new), nan=0.0)
        alpha = torch.nan_to_num(torch.exp(m - m_new), nan=0.0)
        total = (alpha if rescale_sum else 1.0) * total + p.sum(-1, keepdim=True)
        acc = (alpha if rescale_acc else 1.0) * acc + p @ v[..., k0 : k0 + block, :]
        m = m_new
    return acc / total


def _variants(q, k, v, is_causal, out=None) -> list:
    """[(the mistake in the user's words, a callable computing its output)]."""
    q64, k64, v64 = (t.detach().to("cpu", torch.float64) for t in (q, k, v))
    N, D = q.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(D)
    right = "top_left" if is_causal else None

    def run(block=N, causal=right, scale=scale, qkv=(q64, k64, v64), **change):
        return lambda: _online(*qkv, block, causal, scale, **change)

    found = []
    for block in BLOCKS:
        if block >= N:
            continue
        found += [
            (
                (
                    "the accumulator is not rescaled when the running max grows: multiply acc "
                    "by exp(m_old - m_new) (exp2 in the log2 domain) before adding the block's "
                    "p @ v"
                ),
                run(block, rescale_acc=False),
            ),
            (
                (
                    "the running sum l is not rescaled when the running max grows: "
                    "l = l * alpha + rowsum(p), with alpha = exp(m_old - m_new)"
                ),
                run(block, rescale_sum=False),
            ),
            (
                (
                    "neither the accumulator nor the running sum is rescaled when the running "
                    "max grows: both get the factor alpha = exp(m_old - m_new)"
                ),
                run(block, rescale_acc=False, rescale_sum=False),
            ),
        ]
        if N % block:
            found.append(
                (
                    (
                        f"the last, partial key block is dropped (N = {N} is not a multiple of "
                        "the block): loop over tl.cdiv(N, BLOCK_N) blocks and mask the keys "
                        "past N"
                    ),
                    run(block, drop_tail=True),
                )
            )
    found += [
        ("the scores are not scaled: multiply them by 1/sqrt(D)", run(scale=1.0)),
        ("the scores are scaled by 1/D, not 1/sqrt(D)", run(scale=1.0 / D)),
        (
            (
                "exp2 is used without folding log2(e) into the scale: exp2(x) = exp(x * ln 2), "
                "so multiply the scores by log2(e) / sqrt(D) before exp2 (and the max with them)"
            ),
            run(scale=scale * math.log(2.0)),
        ),
        (
            (
                "the scores are multiplied by log2(e) but exp is used, not exp2: use "
                "tl.math.exp2 with the log2(e)-folded scale, or exp with 1/sqrt(D) alone"
            ),
            run(scale=scale * math.log2(math.e)),
        ),
    ]
    if is_causal:
        found += [
            (
                "is_causal=True has no effect: the output matches attention without the mask",
                run(causal=None),
            ),
            (
                (
                    "the causal mask excludes the diagonal: query i must also see key i "
                    "(hide key j only when j > i)"
                ),
                run(causal="strict"),
            ),
        ]
    else:
        found.append(
            (
                "a causal mask is applied although is_causal=False",
                run(causal="top_left"),
            )
        )
    shape = tuple(q.shape)
    H = shape[1]
    dense = (H * N * D, N * D, D, 1)
    fix = "; pass all four strides of q, k and v to the kernel (or call .contiguous())"
    if not all(t.is_contiguous() for t in (q, k, v)):
        flat = [storage_view(t, shape, dense) for t in (q, k, v)]
        if all(f is not None for f in flat):
            found.append(
                (
                    "the kernel ignores the strides of q, k and v: it reads them as contiguous "
                    "(B, H, N, D)" + fix,
                    run(qkv=tuple(flat)),
                )
            )
    if (
        isinstance(out, torch.Tensor)
        and out.shape == q.shape
        and not out.is_contiguous()
    ):
        strides = out.stride()
        last = sum((n - 1) * st for n, st in zip(out.shape, strides))
        if min(strides) >= 0 and last < out.numel():
            # A kernel writing row-major (B, H, N, D) into an output with other strides.
            right = F.scaled_dot_product_attention(q64, k64, v64, is_causal=is_causal)
            found.append(
                (
                    (
                        "the kernel ignores the output's strides: it writes (B, H, N, D) "
                        f"row-major into an output with strides {strides} (torch.empty_like(q) "
                        "keeps a transposed q's layout); allocate torch.empty((B, H, N, D), ...) "
                        "or pass the output's strides to the kernel"
                    ),
                    right.flatten().as_strided(tuple(out.shape), strides),
                )
            )
    return found


def _assert_written(out, expected, variants, atol, rtol, context):
    """NaN where the expected value is finite: query rows no program stored, or a 0/0."""
    if not (
        isinstance(out, torch.Tensor) and out.dim() == 4 and out.is_floating_point()
    ):
        return
    nan = torch.isnan(out.detach().to("cpu", torch.float32))
    if nan.any():
        r = nan.any(-1).nonzero()[0].tolist()
        raise AssertionError(
            f"output [{context}]: {int(nan.sum())} of {out.numel()} values are NaN (first at "
            f"batch {r[0]}, head {r[1]}, query row {r[2]}): either no program stored them (they "
            "still hold the NaN poison of torch.empty: the grid must cover triton.cdiv(N, "
            "BLOCK_M) query blocks for every batch and head) or a row divided 0 by 0 (every key "
            "it saw was masked)" + diagnose(out, expected, variants(), atol, rtol)
        )


def _check(impl, q, k, v, is_causal, context):
    out = _call(impl, q, k, v, is_causal)
    atol, rtol = tolerance(q.dtype)
    expected = _expected(q, k, v, is_causal)

    def variants():
        return _variants(q, k, v, is_causal, out)

    _assert_written(out, expected, variants, atol, rtol, context)
    assert_close_diagnosed(
        out,
        expected,
        variants,
        atol=atol,
        rtol=rtol,
        context=context,
    )
    return out


def _qkv(B, H, N, D, seed, device, dtype=torch.float16, scale=1.0):
    return tuple(
        randn((B, H, N, D), seed + 100 * i, device, dtype, scale if i < 2 else 1.0)
        for i in range(3)
    )


def _desc(q, is_causal):
    B, H, N, D = q.shape
    return f"{q.dtype} B={B} H={H} N={N} D={D}, is_causal={is_causal}"


def test_the_kernel_does_the_work(impl, device):
    q, k, v = _qkv(1, 2, 37, 16, 0, device)
    _check(impl, q, k, v, False, _desc(q, False))


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("D", [16, 32, 64, 128])
def test_every_head_dim(impl, device, D, is_causal):
    # N = 45: not a multiple of any block; two key blocks of 32, so the online softmax rescales.
    q, k, v = _qkv(1, 1, 45, D, D, device)
    _check(impl, q, k, v, is_causal, _desc(q, is_causal))


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("N", [1, 16, 33, 65])
def test_sequence_lengths(impl, device, N, is_causal):
    q, k, v = _qkv(2 if N < 60 else 1, 1, N, 32, N, device)
    _check(impl, q, k, v, is_causal, _desc(q, is_causal))


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_bfloat16(impl, device, is_causal):
    skip_bf16_off_gpu(device, torch.bfloat16)
    q, k, v = _qkv(2, 3, 150, 64, 3, device, torch.bfloat16)
    _check(impl, q, k, v, is_causal, _desc(q, is_causal))


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_large_scores(impl, device, is_causal):
    # q and k scaled by 5: scores reach ~+-100 after 1/sqrt(D), and the max grows from block to
    # block. exp without subtracting the running max overflows float32.
    q, k, v = _qkv(1, 1, 70, 32, 4, device, scale=5.0)
    _check(impl, q, k, v, is_causal, _desc(q, is_causal) + ", q and k scaled by 5")


def _bnhd(B, N, H, D, seed, device, dtype):
    """(B, N, H, D) tensors viewed as (B, H, N, D): the layout of a projection's output."""
    return tuple(
        randn((B, N, H, D), seed + 100 * i, device, dtype).transpose(1, 2)
        for i in range(3)
    )


LAYOUTS = ["bnhd_transposed", "packed_qkv", "mixed"]


def _layout(name, device, dtype):
    B, N, H, D = 2, 24, 2, 32
    if name == "bnhd_transposed":
        return _bnhd(B, N, H, D, 5, device, dtype)
    if name == "packed_qkv":  # one (B, N, 3, H, D) projection output split into q, k, v
        qkv = randn((B, N, 3, H, D), 6, device, dtype)
        return tuple(t.transpose(1, 2) for t in qkv.unbind(2))
    q = randn((B, H, N, D), 7, device, dtype)  # contiguous q, strided k and v
    k = randn((B, H, D, N), 8, device, dtype).transpose(-2, -1)  # k stored transposed
    v = randn((B, H, N, 2 * D), 9, device, dtype)[..., D:]  # a slice of a wider tensor
    return q, k, v


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_contiguous_inputs(impl, device, layout, is_causal):
    q, k, v = _layout(layout, device, torch.float16)
    assert not all(t.is_contiguous() for t in (q, k, v)), "verifier bug: expected views"
    strides = ", ".join(f"{n} strides {t.stride()}" for n, t in zip("qkv", (q, k, v)))
    _check(impl, q, k, v, is_causal, f"{layout}: {_desc(q, is_causal)}; {strides}")


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_never_an_n_by_n_matrix(impl, device, is_causal):
    # N·N = 2500 elements exceeds twice every legitimate buffer (q, k, v and the output: 800).
    q, k, v = _qkv(1, 1, 50, 16, 10, device)
    _check(impl, q, k, v, is_causal, _desc(q, is_causal))


def test_second_call_on_fresh_inputs(impl, device):
    # Same shapes twice (the compiled kernel is reused): nothing may leak between calls.
    for seed in (20, 21):
        q, k, v = _qkv(1, 2, 24, 16, seed, device)
        _check(impl, q, k, v, True, f"{_desc(q, True)}, seed {seed}")


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_long_sequences_on_cuda(impl, device, is_causal, dtype):
    if device != "cuda":
        pytest.skip("long sequences on CUDA only (the interpreter is slow)")
    for B, H, N, D in [(2, 4, 1000, 128), (1, 8, 2048, 64), (2, 2, 777, 32)]:
        q, k, v = _bnhd(B, N, H, D, N + D, device, dtype)
        _check(
            impl, q, k, v, is_causal, _desc(q, is_causal) + " ((B, N, H, D) transposed)"
        )


def test_speed(impl, device, speed_report):
    """On a GPU: the attempt beside torch's SDPA (its fastest backend here) on float16
    B=2 H=16 N=2048 D=128, not causal (4 B H N^2 D FLOPs a call), then correct again on fresh
    inputs (against SDPA in float32 on the GPU)."""
    if device != "cuda":
        pytest.skip("speed is measured on a GPU")
    B, H, N, D = 2, 16, 2048, 128
    q, k, v = _qkv(B, H, N, D, 40, device)

    def recheck():
        q2, k2, v2 = _qkv(B, H, N, D, 41, device)
        out = impl.flash_attention(q2, k2, v2, is_causal=False)
        expected = F.scaled_dot_product_attention(
            q2.float(), k2.float(), v2.float()
        ).half()
        assert_close(
            out, expected, atol=2e-2, rtol=2e-2, context="fresh inputs after the timing"
        )

    measure(
        speed_report,
        lambda: impl.flash_attention(q, k, v, is_causal=False),
        lambda: F.scaled_dot_product_attention(q, k, v),
        work=4 * B * H * N * N * D,
        unit="TFLOP/s",
        recheck=recheck,
    )


def _gpu_launches(impl):
    """The launches compiled for a GPU off one (not run): the smallest and largest head dims,
    short and long sequences, both masks, bf16, and a (B, N, H, D) layout transposed."""

    def qkv(N, D, dtype=torch.float16):
        return [torch.empty(1, 2, N, D, dtype=dtype) for _ in range(3)]

    for D in (16, 128):
        impl.flash_attention(*qkv(100, D), is_causal=True)
        impl.flash_attention(*qkv(4096, D), is_causal=False)
        impl.flash_attention(*qkv(4096, D), is_causal=True)
    impl.flash_attention(*qkv(4096, 64, torch.bfloat16))
    bnhd = [
        torch.empty(1, 4096, 2, 128, dtype=torch.float16).transpose(1, 2)
        for _ in range(3)
    ]
    impl.flash_attention(*bnhd, is_causal=True)


test_compiles_for_a_gpu = compile_test(_gpu_launches)
