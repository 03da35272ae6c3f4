"""Verifier for the Triton LayerNorm forward: against torch's layer_norm in float64 over the last
dim, for 1-d to 4-d inputs, odd row lengths, strided x, weight and bias, eps inside the square
root, float32 statistics (half-precision overflow, a large mean), and proof that the attempt's own
kernel did the work.

Every call of the attempt goes through `_call`: fresh memory is poisoned (deterministic mode fills
`torch.empty` with NaN, so rows the kernel never wrote stay NaN), the inputs must come back
unchanged, the result must be a new tensor, and `cards.kernels.KernelWatch` must see the
attempt's own kernel compute it (no torch compute op outside the kernel).
"""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)
from cards.compile_check import compile_test
from cards.kernels import KernelWatch, poisoned_empty, skip_bf16_off_gpu, storage_view
from cards.speed import measure

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
DEFAULT_EPS = 1e-5


def _call(impl, x, weight, bias, **kwargs):
    """impl.layer_norm(...) under the poison and the kernel watch; inputs must be left alone."""
    inputs = {"x": x, "weight": weight, "bias": bias}
    before = {name: t.clone() for name, t in inputs.items()}
    with poisoned_empty(), KernelWatch(impl, "layer_norm") as watch:
        out = call(impl.layer_norm, x, weight, bias, what="layer_norm", **kwargs)
    for name, t in inputs.items():
        assert_unchanged(before[name], t, name)
    watch.check(out)
    for name, t in inputs.items():
        assert out.untyped_storage().data_ptr() != t.untyped_storage().data_ptr(), (
            f"layer_norm returned {name} or a view of it: it must return a new tensor"
        )
    return out


def _expected(x, weight, bias, eps):
    """torch's layer_norm in float64 over the last dim, in x's dtype and on its device."""
    N = x.shape[-1]
    d = lambda t: t.detach().to("cpu", torch.float64)
    y = F.layer_norm(d(x), (N,), d(weight), d(bias), eps)
    return y.to(device=x.device, dtype=x.dtype)


def _memory_order(t, shape):
    """t's storage read row-major with `shape` from its offset; None past the storage."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.insert(0, step)
        step *= n
    return storage_view(t, tuple(shape), tuple(strides))


def _variants(x, weight, bias, eps):
    """[(a classic mistake in the user's words, the output it gives)], float64 on the CPU."""
    x64 = x.detach().to("cpu", torch.float64)
    w = weight.detach().to("cpu", torch.float64)
    b = bias.detach().to("cpu", torch.float64)
    N = x.shape[-1]

    def norm(v, correction=0, inside=True, centre=True, e=eps, dims=(-1,), ww=w, bb=b):
        c = v - v.mean(dims, keepdim=True) if centre else v
        n = 1
        for d in dims:
            n *= v.shape[d]
        var = c.pow(2).sum(dims, keepdim=True) / (n - correction) if centre else None
        if not centre:
            return v * torch.rsqrt(v.pow(2).mean(dims, keepdim=True) + e) * ww + bb
        den = torch.sqrt(var + e) if inside else torch.sqrt(var) + e
        return c / den * ww + bb

    found = []
    if N > 1:
        found.append(
            (
                (
                    "the variance is the unbiased one (divided by N - 1, as torch.var does by "
                    "default): LayerNorm divides the sum of squares by N"
                ),
                lambda: norm(x64, correction=1),
            )
        )
    found += [
        (
            (
                "eps was added outside the square root, (x - mean) / (sqrt(var) + eps): it "
                "belongs inside, (x - mean) / sqrt(var + eps)"
            ),
            lambda: norm(x64, inside=False),
        ),
        (
            (
                "the mean was not subtracted (that is RMSNorm): LayerNorm centres x, then "
                "divides by sqrt(mean((x - mean)^2) + eps)"
            ),
            lambda: norm(x64, centre=False),
        ),
        (
            "`weight` was not applied: multiply the normalised x by weight",
            lambda: norm(x64, ww=1.0),
        ),
        (
            "`bias` was not added: add bias after multiplying by weight",
            lambda: norm(x64, bb=0.0),
        ),
        (
            "eps was ignored: the output matches eps=1e-5, not the eps argument",
            lambda: norm(x64, e=DEFAULT_EPS),
        ),
        (
            "eps is missing: the output matches (x - mean) / sqrt(var), no eps",
            lambda: norm(x64, e=0.0),
        ),
    ]
    if x.dim() > 1:
        found.append(
            (
                (
                    "the statistics were taken over every element of x, not per row: reduce "
                    "over the last dim only"
                ),
                lambda: norm(x64, dims=tuple(range(x.dim()))),
            )
        )
    if x.dtype in (torch.float16, torch.bfloat16):
        c = x64 - x64.mean(-1, keepdim=True)
        squares = c.to(x.dtype).pow(2).double()  # inf beyond the dtype's max
        why = (
            f"the statistics were computed in {x.dtype} and (x - mean)^2 overflowed (inf "
            f"beyond {torch.finfo(x.dtype).max:g}): convert the row to float32 "
            "(x.to(tl.float32)) before the sums"
        )
        found.append(
            (why, c * torch.rsqrt(squares.mean(-1, keepdim=True) + eps) * w + b)
        )
    if not x.is_contiguous():
        read = _memory_order(x, tuple(x.shape))
        why = (
            "the kernel ignores x's strides: it reads a non-contiguous x (transposed, "
            "sliced, permuted) as if it were contiguous; pass x's row and column strides to "
            "the kernel, or make x contiguous in the wrapper (x.reshape(-1, N) is a view, "
            "not a copy, when it can be)"
        )
        if read is not None:
            found.append((why, lambda read=read: norm(read)))
        if x.dim() == 2:
            cols_as_one = storage_view(x, tuple(x.shape), (x.stride(0), 1))
            if cols_as_one is not None:
                found.append(
                    (
                        (
                            "the kernel ignores x's column stride: it steps 1 element from "
                            f"column to column instead of x.stride(-1) = {x.stride(1)} (x.reshape"
                            "(-1, N) keeps a view's strides); pass the column stride or call "
                            ".contiguous()"
                        ),
                        lambda c=cols_as_one: norm(c),
                    )
                )
    reads = {}  # a strided weight or bias read as if contiguous
    for name, t in (("weight", weight), ("bias", bias)):
        if t.stride(0) != 1:
            read = _memory_order(t, (N,))
            if read is not None:
                reads["ww" if name == "weight" else "bb"] = (name, read)
    for key, (name, read) in reads.items():
        why = (
            f"the kernel ignores {name}'s stride: it reads a strided {name} as if "
            f"contiguous; pass {name}.stride(0) or make it contiguous"
        )
        found.append((why, lambda key=key, read=read: norm(x64, **{key: read})))
    if len(reads) == 2:
        why = (
            "the kernel ignores the strides of weight and bias: it reads them as if "
            "contiguous; pass weight.stride(0) and bias.stride(0) or make them contiguous"
        )
        both = {key: read for key, (_, read) in reads.items()}
        found.append((why, lambda: norm(x64, **both)))
    return found


def _assert_ln(out, x, weight, bias, eps, context, atol=None, rtol=None):
    expected = _expected(x, weight, bias, eps)
    ctx = f" [{context}]"
    if (
        isinstance(out, torch.Tensor)
        and out.shape != x.shape
        and out.numel() == x.numel()
    ):
        raise AssertionError(
            f"layer_norm(x){ctx}: shape expected {tuple(x.shape)}, got {tuple(out.shape)}: "
            "return the output in x's shape (reshape it back from (rows, N))"
        )
    if isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype:
        a = out.detach().to("cpu", torch.float64)
        nan = a.isnan() & expected.to("cpu", torch.float64).isfinite()
        if nan.any():
            index = tuple(int(i) for i in nan.nonzero()[0])
            rows = nan.reshape(-1, x.shape[-1]).any(-1)
            raise AssertionError(
                f"layer_norm(x){ctx}: NaN at {int(nan.sum())} of {a.numel()} elements, the "
                f"first at index {index}; {int(rows.sum())} of {rows.numel()} rows hold NaN. "
                "Values nobody wrote are NaN here (the grader poisons torch.empty): launch one "
                "program per row of the flattened (rows, N) input, prod(x.shape[:-1]) of "
                "them, and mask on N; a row that is really computed as NaN means padding "
                "lanes or 0/0 reached the sums"
            )
    default_atol, default_rtol = tolerance(x.dtype)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(x, weight, bias, eps),
        atol=default_atol if atol is None else atol,
        rtol=default_rtol if rtol is None else rtol,
        what="layer_norm(x)",
        context=context,
    )


def _inputs(shape, seed, dtype, device, scale=2.0, offset=1.0):
    """x with a different mean per row (a missing centring shows), weight around 1, bias."""
    g = generator(seed)
    N = shape[-1]
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    x = x + offset * scale * torch.randn(
        shape[:-1] + (1,), generator=g, dtype=torch.float64
    )
    w = 1.0 + 0.5 * torch.randn(N, generator=g, dtype=torch.float64)
    b = 0.5 * torch.randn(N, generator=g, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=dtype) for t in (x, w, b))


def _check(impl, x, w, b, context, eps=None, **tol):
    kwargs = {} if eps is None else {"eps": eps}
    out = _call(impl, x, w, b, **kwargs)
    _assert_ln(out, x, w, b, DEFAULT_EPS if eps is None else eps, context, **tol)


def test_the_kernel_does_the_work(impl, device):
    x, w, b = _inputs((4, 33), 0, torch.float32, device)
    _check(impl, x, w, b, "float32 x of shape (4, 33)")


# 1-d to 4-d, row lengths that are not powers of two, a power of two, one element per row.
SHAPES = [(33,), (4, 33), (3, 64), (2, 3, 100), (2, 2, 2, 19), (5, 1), (2, 130)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_torch_layer_norm(impl, device, shape, dtype):
    skip_bf16_off_gpu(device, dtype)
    x, w, b = _inputs(shape, sum(shape), dtype, device)
    _check(impl, x, w, b, f"{dtype} x of shape {shape}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_eps_sits_inside_the_square_root(impl, device, dtype):
    # A variance near eps: eps outside the sqrt, another eps or no eps all give other values.
    x, w, b = _inputs((4, 40), 1, torch.float32, device, scale=0.03, offset=0.0)
    x = x.to(dtype)
    _check(impl, x, w, b, f"{dtype} rows with std 0.03, eps=1e-3", eps=1e-3)
    x, w, b = _inputs((3, 24), 2, torch.float32, device, scale=0.004, offset=0.0)
    _check(impl, x, w, b, "float32 rows with std 0.004, eps omitted (default 1e-5)")


def test_float16_statistics_do_not_overflow(impl, device):
    # Values in the hundreds: (x - mean)^2 reaches 1e5, beyond float16's max of 65504.
    x, w, b = _inputs((3, 48), 3, torch.float32, device, scale=150.0, offset=0.5)
    x, w, b = x.to(torch.float16), w.to(torch.float16), b.to(torch.float16)
    _check(impl, x, w, b, "float16 x with values in the hundreds")


def test_large_mean_keeps_precision(impl, device):
    # Rows with mean ~100 and std ~1: mean((x - mean)^2) is accurate in float32, while
    # E[x^2] - mean^2 loses about 4 of float32's 7 digits to cancellation (errors ~5e-3).
    x, w, b = _inputs((6, 100), 4, torch.float32, device, scale=1.0, offset=0.0)
    shift = torch.linspace(95.0, 105.0, 6, device=device)[:, None]
    context = "float32 rows of std 1"
    _check(impl, x, w, b, context + " and mean 0", atol=1e-4, rtol=1e-4)
    try:
        _check(impl, x + shift, w, b, context + " and mean ~100", atol=1e-4, rtol=1e-4)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nlikely bug: the same rows pass with mean 0, so precision is lost to the "
            "mean: the variance as E[x^2] - mean^2 cancels catastrophically in float32 when "
            "|mean| >> std; compute mean((x - mean)^2) (a second pass over the row, or Welford)"
        ) from None


def _views(dtype, device):
    """{name: (x, weight, bias)} with non-contiguous tensors."""
    x = _inputs((40, 6), 5, dtype, device)[0]
    y = _inputs((5, 90), 6, dtype, device)[0]
    z = _inputs((3, 40, 4), 7, dtype, device)[0]
    affine = lambda n, seed: _inputs((n,), seed, dtype, device)[1:]
    return {
        "transposed x": (x.t(), *affine(40, 8)),  # (6, 40), column stride 6
        "x[:, ::2]": (y[:, ::2], *affine(45, 9)),  # column stride 2
        "x[:, 3:50]": (y[:, 3:50], *affine(47, 10)),  # storage offset 3, row stride 90
        "permuted 3-d x": (
            z.permute(0, 2, 1),
            *affine(40, 11),
        ),  # (3, 4, 40), column stride 4
        "strided weight and bias": (
            _inputs((3, 40), 12, dtype, device)[0],
            _inputs((40, 2), 13, dtype, device)[0][:, 0],  # stride 2
            _inputs((120,), 14, dtype, device)[0][::3],  # stride 3
        ),
    }


VIEW_NAMES = list(_views(torch.float32, "cpu"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("view", VIEW_NAMES)
def test_strided_inputs(impl, device, view, dtype):
    x, w, b = _views(dtype, device)[view]
    strides = ", ".join(
        f"{n} {tuple(t.stride())}" for n, t in (("x", x), ("weight", w), ("bias", b))
    )
    _check(impl, x, w, b, f"{dtype} {view}: strides {strides}")


def test_fresh_inputs_each_call(impl, device):
    # The same shape twice (the compiled kernel is reused): nothing may be cached between calls.
    for seed in (13, 14):
        x, w, b = _inputs((3, 50), seed, torch.float16, device)
        _check(impl, x, w, b, f"float16 x of shape (3, 50), seed {seed}")


def test_large_on_gpu(impl, device):
    if device != "cuda":
        pytest.skip("large tensors on a GPU only (the interpreter is slow)")
    for dtype in DTYPES:
        x, w, b = _inputs((8, 64, 1030), 15, dtype, device)
        _check(impl, x, w, b, f"{dtype} x of shape (8, 64, 1030)")
        x, w, b = _inputs((4096, 64), 16, dtype, device)
        _check(impl, x, w, b, f"{dtype} x of shape (4096, 64)")
        x = _inputs((5000, 48), 17, dtype, device)[0].t()
        w, b = _inputs((1, 5000), 18, dtype, device)[1:]
        _check(impl, x, w, b, f"{dtype} x transposed, shape (48, 5000)")


def test_speed(impl, device, speed_report):
    """On a GPU: the attempt beside torch's layer_norm on a (4096, 4096) float16 x (x read and
    the output written, a call), then correct again on fresh inputs."""
    if device != "cuda":
        pytest.skip("speed is measured on a GPU")
    shape = (4096, 4096)
    x, w, b = _inputs(shape, 60, torch.float16, device)
    measure(
        speed_report,
        lambda: impl.layer_norm(x, w, b),
        lambda: F.layer_norm(x, shape[-1:], w, b),
        work=2 * x.numel() * x.element_size(),
        unit="GB/s",
        recheck=lambda: _check(
            impl,
            *_inputs(shape, 61, torch.float16, device),
            "fresh inputs after the timing",
        ),
    )


def _gpu_launches(impl):
    """The launches compiled for a GPU off one (not run): up to the speed test's shape, and
    GPT-2's width, which is no power of two."""
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for shape in ((3, 7), (64, 768), (4096, 4096)):
            w, b = (
                torch.empty(shape[-1], dtype=dtype),
                torch.empty(shape[-1], dtype=dtype),
            )
            impl.layer_norm(torch.empty(shape, dtype=dtype), w, b)


test_compiles_for_a_gpu = compile_test(_gpu_launches)
