"""Verifier for the Triton softmax kernel: against torch.softmax in float64, and proof that the
attempt's own Triton kernel did the work.

Every call of the attempt goes through `_call`, which runs it under the card kit's
`cards.kernels.KernelWatch`: the attempt's own kernel must have done the work (see that module).
"""

import pytest
import torch

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    generator,
    tolerance,
)
from cards.compile_check import compile_test
from cards.kernels import OLD_INTERPRETER, KernelWatch, storage_view
from cards.speed import measure

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _call(impl, x):
    """impl.softmax(x), checking that x is left alone and that the attempt's kernel did the work."""
    before = x.clone()
    with KernelWatch(impl, "softmax") as watch:
        try:
            out = impl.softmax(x)
        except Exception as exc:
            if OLD_INTERPRETER not in str(exc):
                raise
            pytest.fail(
                f"{type(exc).__name__}: {exc}. This Triton's interpreter cannot loop over a runtime "
                "bound (`range(0, n_cols, BLOCK)`) with this NumPy: upgrade Triton, or pass the "
                "trip count as a tl.constexpr. On a GPU the kernel would compile as written."
            )
    assert_unchanged(before, x, "x")
    watch.check(out)
    return out


def _expected(x):
    return torch.softmax(x.double(), dim=-1).to(x.dtype)


# -- diagnoses: known mistakes, computed from the reference math, named only when the attempt's
# output equals one of them within the tolerance of the failed comparison -----------------------


def _softmax_variants(x, out) -> list:
    """[(the mistake in the user's terms, softmax(x) as that mistake computes it)]; a mistake
    that can take several forms comes once per form (diagnose names it once)."""
    x64 = x.detach().to("cpu", torch.float64)
    R, C = x.shape
    e = torch.exp(x.detach().to("cpu", torch.float32))  # float32 math, as in the kernel
    variants = [
        (
            (
                "no max subtraction: large inputs overflow to inf/nan (exp(x) overflows in "
                "float32 beyond ~88, and a row that underflows gives 0/0); subtract the row "
                "max before exp"
            ),
            (e / e.sum(dim=-1, keepdim=True)).double(),
        )
    ]
    # Zero padding up to a power-of-two block, or up to a whole number of tiles.
    blocks = {1 << (C - 1).bit_length()} | {
        -(-C // b) * b for b in (16, 32, 64, 128, 256, 512, 1024)
    }
    m = x64.amax(dim=-1, keepdim=True).clamp(min=0)  # a 0 lane may win the max
    num = torch.exp(x64 - m)
    lanes = (
        "masked lanes loaded as 0 instead of -inf: padding columns take probability mass "
        "(each lane past the end of the row adds exp(0 - max) to the sum, and a 0 can win "
        "the max of a negative row); load with other=-float('inf')"
    )
    variants += [
        (lanes, num / (num.sum(dim=-1, keepdim=True) + (b - C) * torch.exp(-m)))
        for b in sorted(blocks)
        if b > C
    ]
    variants += [
        (
            "softmax taken over the columns (dim 0) instead of along each row (the last dim)",
            torch.softmax(x64, dim=0),
        ),
        (
            "the output is not normalised: divide exp(x - max) by the row sum",
            torch.exp(x64 - x64.amax(dim=-1, keepdim=True)),
        ),
    ]
    s0, s1 = x.stride()
    whole = (
        "the kernel ignores the input's strides: it reads a strided view as if it were "
        "contiguous, so a strided view gives wrong rows and columns"
    )
    rows = (
        "the kernel ignores the input's row stride (a strided view gives wrong rows): it "
        "steps one row length (n_cols elements or column strides) from row to row instead "
        "of x.stride(0)"
    )
    cols = (
        "the kernel ignores the input's column stride (a strided view gives wrong columns): "
        "it steps 1 element from column to column instead of x.stride(1)"
    )
    fix = "; pass x.stride(0), x.stride(1) to the kernel or call x.contiguous()"
    misreads = {}  # strides the kernel may read with: the words for that mistake
    for why, forms in (
        (whole, [(C, 1)]),
        (rows, [(C, s1), (C * s1, s1)]),
        (cols, [(s0, 1)]),
    ):
        for strides in forms:  # where two mistakes read alike, the later words are kept
            misreads[strides] = why + fix
    misreads.pop((s0, s1), None)  # reading with x's own strides is no mistake
    for strides, why in misreads.items():
        read = storage_view(x, (R, C), strides)
        if read is not None:
            variants.append((why, torch.softmax(read, dim=-1)))
    if isinstance(out, torch.Tensor) and out.dim() == 2 and not out.is_contiguous():
        # A kernel that writes row r at r * n_cols + c, read back through out's strides.
        o0, o1 = out.stride()
        if min(o0, o1) >= 0 and (R - 1) * o0 + (C - 1) * o1 < R * C:
            written = torch.softmax(x64, dim=-1).flatten()
            why = (
                f"the kernel ignores the output's strides: it writes row-major (row * n_cols + "
                f"col) into an output with strides {(o0, o1)} (torch.empty_like(x) keeps x's "
                "layout); allocate torch.empty((R, C), ...) or pass the output's "
                "strides to the kernel"
            )
            variants.append((why, written.as_strided((R, C), (o0, o1))))
    return variants


def _assert_softmax(out, x, context, atol=None, rtol=None):
    """assert_close against softmax(x), with a diagnosis of the failure appended."""
    default_atol, default_rtol = tolerance(x.dtype)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    assert_close_diagnosed(
        out,
        _expected(x),
        lambda: _softmax_variants(x, out),
        atol=atol,
        rtol=rtol,
        context=context,
    )


def _randn(shape, seed, dtype, device, scale=3.0):
    return (torch.randn(shape, generator=generator(seed)) * scale).to(
        device=device, dtype=dtype
    )


def _check(impl, x, context):
    out = _call(impl, x)
    _assert_softmax(out, x, context)
    assert out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr(), (
        f"[{context}] softmax returned a view of x: it must return a new tensor"
    )


def test_the_kernel_does_the_work(impl, device):
    x = _randn((4, 33), 0, torch.float32, device)
    _check(impl, x, "float32 x of shape (4, 33)")


# Non-power-of-two row lengths (masking), one column, one row, and a row longer than 128.
SHAPES = [(1, 77), (4, 33), (3, 64), (2, 130), (3, 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_torch_softmax(impl, device, shape, dtype):
    x = _randn(shape, sum(shape), dtype, device)
    _check(impl, x, f"{dtype} x of shape {shape}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("offset", [1000.0, -1000.0])
def test_large_inputs_need_the_row_max(impl, device, offset, dtype):
    # exp(1000) overflows and exp(-1000) underflows: without subtracting the row max, inf/inf or 0/0.
    x = _randn((3, 45), 2, torch.float32, device) + offset
    x = x.to(dtype)
    _check(impl, x, f"{dtype} x = randn(3, 45) * 3 + {offset:g}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_all_negative_rows_with_padding(impl, device, dtype):
    # Rows of negative values, 45 long in a block of 64: padding lanes must load -inf, not 0
    # (a 0 would win the max and add 19 * exp(-max) to the sum).
    x = -(_randn((4, 45), 3, torch.float32, device).abs() + 4.0)
    x = x.to(dtype)
    _check(impl, x, f"{dtype} all-negative rows of length 45")


VIEWS = {
    "transposed": lambda base: (
        base.t()
    ),  # (6, 33) view of a (33, 6) tensor: column stride 6
    "every_other_column": lambda base: base[:, ::2],  # column stride 2
    "column_slice": lambda base: base[
        :, 3:50
    ],  # storage offset 3, row stride != row length
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("view", list(VIEWS))
def test_non_contiguous_views(impl, device, view, dtype):
    shape = (33, 6) if view == "transposed" else (5, 64)
    base = _randn(shape, 4, dtype, device)
    x = VIEWS[view](base)
    assert not x.is_contiguous(), "verifier bug: the view should be non-contiguous"
    base_before = base.clone()
    _check(
        impl, x, f"{dtype} {view} view of shape {tuple(x.shape)}, strides {x.stride()}"
    )
    assert_unchanged(base_before, base, "x")


def test_rows_are_independent(impl, device):
    # A square input, so a softmax over columns has the right shape but the wrong values.
    x = _randn((6, 6), 5, torch.float32, device)
    _check(impl, x, "square float32 x of shape (6, 6)")
    # two identical rows: identical outputs
    x = torch.arange(6.0).repeat(2, 1).to(device)
    out = _call(impl, x)
    _assert_softmax(out, x, "two identical rows 0..5")


def test_second_call_on_fresh_inputs(impl, device):
    # Same shape and dtype twice (the compiled kernel is reused): no state may leak between calls.
    for seed in (6, 7):
        x = _randn((3, 50), seed, torch.float16, device)
        _check(impl, x, f"float16 x of shape (3, 50), seed {seed}")


def test_speed(impl, device, speed_report):
    """On a GPU: the attempt beside torch.softmax on one (8192, 4096) float16 input (bytes read
    and written per call), then correct again on fresh inputs."""
    if device != "cuda":
        pytest.skip("speed is measured on a GPU")
    x = _randn((8192, 4096), 20, torch.float16, device)

    def recheck():
        fresh = _randn((8192, 4096), 21, torch.float16, device)
        _check(impl, fresh, "float16 (8192, 4096), fresh inputs after the timing")

    measure(
        speed_report,
        lambda: impl.softmax(x),
        lambda: torch.softmax(x, -1),
        work=2 * x.numel() * x.element_size(),
        unit="GB/s",
        recheck=recheck,
    )


def _gpu_launches(impl):
    """The launches compiled for a GPU off one (shapes up to the speed test's; not run)."""
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for shape in ((1, 1), (3, 7), (8192, 4096)):
            impl.softmax(torch.empty(shape, dtype=dtype))


test_compiles_for_a_gpu = compile_test(_gpu_launches)
