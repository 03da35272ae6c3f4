"""Verifier for the Triton vector add: bit for bit against torch's x + y, on contiguous and
strided inputs of several shapes and dtypes, and proof that the attempt's own kernel did the work.

Every call of the attempt goes through `_call`: fresh memory is poisoned (deterministic mode fills
`torch.empty` with NaN, so elements the kernel never wrote stay NaN), the inputs must come back
unchanged, the result must be a new tensor, and `cards.kernels.KernelWatch` must see the
attempt's own kernel compute it (no torch compute op outside the kernel).
"""

import pytest
import torch

from cards.checks import assert_tensor, assert_unchanged, call, diagnose, generator
from cards.compile_check import compile_test
from cards.kernels import KernelWatch, poisoned_empty, skip_bf16_off_gpu
from cards.speed import measure

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _storages(t):
    return {t.untyped_storage().data_ptr()} if t.numel() else set()


def _call(impl, x, y):
    """impl.add(x, y) under the poison and the kernel watch; x and y must be left alone."""
    x0, y0 = x.clone(), y.clone()
    with poisoned_empty(), KernelWatch(impl, "add") as watch:
        out = call(impl.add, x, y, what="add")
    assert_unchanged(x0, x, "x")
    assert_unchanged(y0, y, "y")
    watch.check(out)
    shared = _storages(out) & (_storages(x) | _storages(y))
    assert not shared, (
        "add returned x, y or a view of one: it must return a new tensor (allocate the output)"
    )
    return out


def _memory_order(t):
    """t's elements in the order they lie in memory from its storage offset (what a kernel that
    ignores strides reads), as a tensor of t's shape; None when that reads past the storage."""
    n = t.numel()
    if t.untyped_storage().nbytes() < (t.storage_offset() + n) * t.element_size():
        return None
    return t.as_strided((n,), (1,), t.storage_offset()).reshape(t.shape)


def _variants(x, y, out):
    """[(the mistake in the user's words, the output it gives)]."""
    found = []
    mx, my = _memory_order(x), _memory_order(y)
    if mx is not None and my is not None:
        flat = (mx + my).contiguous()
        why = (
            "the kernel ignores the inputs' strides: it reads a non-contiguous view as if it "
            "were contiguous (flat index i is not element i of a transposed, sliced or "
            "expanded tensor); call .contiguous() on x and y in the wrapper or pass their "
            "strides to the kernel"
        )
        found.append((why, flat))
    if (
        isinstance(out, torch.Tensor)
        and out.shape == x.shape
        and not out.is_contiguous()
    ):
        o = tuple(out.stride())
        why2 = (
            f"the kernel writes the output in flat row-major order, but the output has "
            f"strides {o} (torch.empty_like keeps a view's layout); allocate "
            "torch.empty(x.shape, ...) for the output, or address it through its strides"
        )
        sums = [(x + y).contiguous()] + (
            [flat] if mx is not None and my is not None else []
        )
        for s in sums:
            if (
                min(o, default=0) >= 0
                and sum((d - 1) * st for d, st in zip(x.shape, o)) < s.numel()
            ):
                found.append((why2, s.flatten().as_strided(x.shape, o)))
    found.append(("the kernel computed x + x instead of x + y", x + x))
    found.append(("the kernel computed y + y instead of x + y", y + y))
    return found


def _bits(t):
    ints = {
        torch.float32: torch.int32,
        torch.float16: torch.int16,
        torch.bfloat16: torch.int16,
    }
    return t.detach().to("cpu").contiguous().view(ints[t.dtype])


def _assert_sum(out, x, y, context):
    """out must be x + y bit for bit; the failure names what was wrong."""
    expected = x + y  # torch's own add, on the same device (outside the watch)
    ctx = f" [{context}]"
    assert_tensor(out, "add(x, y)" + ctx)
    assert out.shape == x.shape, (
        f"add(x, y){ctx}: shape expected {tuple(x.shape)}, got {tuple(out.shape)}"
    )
    assert out.dtype == x.dtype, (
        f"add(x, y){ctx}: dtype expected {x.dtype}, got {out.dtype} (keep the input's dtype)"
    )
    assert out.device.type == x.device.type, (
        f"add(x, y){ctx}: device expected {x.device.type}, got {out.device.type}"
    )
    if torch.equal(_bits(out), _bits(expected)):
        return
    a = out.detach().to("cpu", torch.float64)
    e = expected.to("cpu", torch.float64)
    nan = a.isnan() & ~e.isnan()
    if nan.any():
        index = tuple(int(i) for i in nan.nonzero()[0])
        first = int(nan.flatten().nonzero()[0])
        short = [
            f"{name} (an expanded view whose storage holds {t.untyped_storage().nbytes() // t.element_size()} elements)"
            for name, t in (("x", x), ("y", y))
            if t.untyped_storage().nbytes() < t.numel() * t.element_size()
        ]
        if short:
            raise AssertionError(
                f"add(x, y){ctx}: {int(nan.sum())} of {a.numel()} elements are NaN, the first "
                f"at index {index}: flat indices read past the storage of {' and '.join(short)}; "
                "the kernel ignores the inputs' strides: honour them, or copy the inputs "
                "to contiguous memory first (x.contiguous())"
            )
        raise AssertionError(
            f"add(x, y){ctx}: {int(nan.sum())} of {a.numel()} elements were never written "
            f"(still NaN from the poisoned torch.empty), the first at index {index} (flat "
            f"index {first} of {a.numel()}): the grid or the mask misses elements; launch "
            "triton.cdiv(n, BLOCK) programs and mask with offs < n"
        )
    wrong = _bits(out) != _bits(expected)
    index = tuple(int(i) for i in wrong.nonzero()[0])
    note = diagnose(out, expected, _variants(x, y, out), atol=0.0, rtol=0.0)
    raise AssertionError(
        f"add(x, y){ctx}: {int(wrong.sum())} of {a.numel()} elements differ from x + y (bit "
        f"for bit); first at index {index}: got {a[index].item():.8g}, expected "
        f"{e[index].item():.8g}{note}"
    )


def _pair(shape, seed, dtype, device):
    """x spread over several binades (so the sum rounds), y smaller: x + y is not exact."""
    g = generator(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 50
    y = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _check(impl, x, y, context):
    _assert_sum(_call(impl, x, y), x, y, context)


def test_the_kernel_does_the_work(impl, device):
    x, y = _pair((1000,), 0, torch.float32, device)
    _check(impl, x, y, "float32 x, y of shape (1000,)")


# One element, a ragged tail, exactly one block, several blocks, n-D and 0-dim tensors.
SHAPES = [(1,), (37,), (1024,), (2500,), (3, 5, 7), (2, 1, 65), ()]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bit_for_bit(impl, device, shape, dtype):
    skip_bf16_off_gpu(device, dtype)
    x, y = _pair(shape, len(shape) + sum(shape), dtype, device)
    _check(impl, x, y, f"{dtype} x, y of shape {shape}")


def _views(dtype, device):
    """{name: (x, y)} non-contiguous inputs, each pair mixing layouts."""
    a, b = _pair((40, 24), 3, dtype, device)
    c = _pair((24, 40), 4, dtype, device)[0]
    e, f = _pair((6, 70), 5, dtype, device)
    row = _pair((24,), 6, dtype, device)[0]
    base = _pair((301,), 7, dtype, device)[0]
    return {
        "x transposed, y contiguous": (a.t(), c),
        "x contiguous, y transposed": (c, b.t()),
        "both transposed": (a.t(), b.t()),
        "x[:, ::2] and y[:, 1::2]": (e[:, ::2], f[:, 1::2]),
        "y an expanded row (stride 0)": (a, row.expand(40, 24)),
        "x at a storage offset": (base[1:], base[:-1].flip(0).contiguous()),
        "3-d permuted": (
            a.reshape(4, 10, 24).permute(2, 0, 1),
            b.reshape(10, 24, 4).permute(1, 2, 0),
        ),
    }


VIEW_NAMES = list(_views(torch.float32, "cpu"))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("view", VIEW_NAMES)
def test_strided_inputs(impl, device, view, dtype):
    skip_bf16_off_gpu(device, dtype)
    x, y = _views(dtype, device)[view]
    bases = [t._base if t._base is not None else t for t in (x, y)]
    before = [t.clone() for t in bases]
    _check(
        impl, x, y, f"{dtype} {view}: x strides {x.stride()}, y strides {y.stride()}"
    )
    for name, b0, b in zip(("x", "y"), before, bases):
        assert_unchanged(b0, b, name)


def test_fresh_inputs_each_call(impl, device):
    # The same shape twice (the compiled kernel is reused): nothing may be cached between calls.
    for seed in (8, 9):
        x, y = _pair((300,), seed, torch.float16, device)
        _check(impl, x, y, f"float16 x, y of shape (300,), seed {seed}")


def test_large_on_gpu(impl, device):
    if device != "cuda":
        pytest.skip("large tensors on a GPU only (the interpreter is slow)")
    for dtype in DTYPES:
        x, y = _pair((1 << 20) + 3, 10, dtype, device)
        _check(impl, x, y, f"{dtype} x, y of {(1 << 20) + 3} elements")
        x = _pair((1031, 517), 11, dtype, device)[0].t()
        y = _pair((517, 1031), 12, dtype, device)[0]
        _check(impl, x, y, f"{dtype} x transposed (517, 1031), y contiguous")


def test_speed(impl, device, speed_report):
    """On a GPU: the attempt beside torch's x + y on 2^24 float32 elements (three tensors' bytes
    a call), then bit for bit again on fresh inputs."""
    if device != "cuda":
        pytest.skip("speed is measured on a GPU")
    x, y = _pair((1 << 24,), 50, torch.float32, device)
    measure(
        speed_report,
        lambda: impl.add(x, y),
        lambda: x + y,
        work=3 * x.numel() * x.element_size(),
        unit="GB/s",
        recheck=lambda: _check(
            impl,
            *_pair((1 << 24,), 51, torch.float32, device),
            "fresh inputs after the timing",
        ),
    )


def _gpu_launches(impl):
    """The launches compiled for a GPU off one (shapes up to the speed test's; not run)."""
    for dtype in DTYPES:
        for n in (1, 4099, 1 << 24):
            impl.add(torch.empty(n, dtype=dtype), torch.empty(n, dtype=dtype))


test_compiles_for_a_gpu = compile_test(_gpu_launches)
