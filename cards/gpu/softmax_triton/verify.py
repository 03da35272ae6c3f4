"""Verifier for the Triton softmax kernel: against torch.softmax in float64, and proof that the
attempt's own Triton kernel did the work.

Every call of the attempt goes through `_call`, which watches three things for the duration of
the call (and restores everything afterwards):

1. Launches. `JITFunction.run` (compiled kernels, and what `triton.autotune` ends up calling) and
   the interpreter's `GridExecutor.__call__` (TRITON_INTERPRET=1; it is what both
   `InterpretedFunction.run` and older interpreters' `kernel[grid]` call) are wrapped to count
   launches. At least one launch of a kernel defined in the attempt's file is required: its
   Python function's globals are the attempt module's.
2. Torch ops. A TorchDispatchMode sees every aten op the call runs. The wrapper may allocate,
   view and copy tensors (`_ALLOWED`); any other op (exp, amax, sum, sub, div, _softmax, ...) is
   torch doing the work outside the kernel, and fails the test naming the op. Inside a launch, the
   interpreter copies each tensor argument's storage to "host" memory and back: on CPU tensors it
   aliases the storage with `new_empty(0).set_(storage, offset, size, stride)`, and copies it back
   with `UntypedStorage.copy_`, which torch runs as `empty` + `set_` + `copy_` (Triton 3.9; older
   interpreters use `.cpu()`/`.to()`, i.e. `_to_copy`). So `set_` is allowed inside a launch only
   (`_LAUNCH_ONLY`); no compute op is allowed anywhere. A compiled launch runs no aten op.
3. Provenance. The returned tensor must hold bytes a kernel wrote: its storage was a kernel
   argument (or a copy, by clone/_to_copy/copy_, of one) and has not changed since. This catches
   a token kernel followed by host-side numpy/Python math, which no aten op reveals.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cards.checks import (
    assert_close_diagnosed,
    assert_tensor,
    assert_unchanged,
    generator,
    tolerance,
)

DTYPES = [torch.float32, torch.float16, torch.bfloat16]

# Allocation, views, metadata and copies: what a host wrapper may do. No op here reads values to
# compute something new, except dtype casts (_to_copy), which the contract allows around the kernel.
_ALLOWED = {
    # allocation
    "empty",
    "empty_like",
    "empty_strided",
    "new_empty",
    "new_empty_strided",
    "zeros",
    "zeros_like",
    "new_zeros",
    "zero_",
    "ones",
    "ones_like",
    "new_ones",
    "full",
    "full_like",
    "new_full",
    "fill_",
    "resize_",
    # views and metadata
    "view",
    "_unsafe_view",
    "_reshape_alias",
    "as_strided",
    "t",
    "transpose",
    "permute",
    "expand",
    "squeeze",
    "unsqueeze",
    "slice",
    "select",
    "alias",
    "detach",
    "unfold",
    "lift_fresh",
    "lift_fresh_copy",
    "sym_size",
    "sym_stride",
    "sym_numel",
    "sym_storage_offset",
    "is_contiguous",
    # copies and casts
    "clone",
    "copy_",
    "_to_copy",
    "_copy_from",
    "_copy_from_and_resize",
}
_LAUNCH_ONLY = {
    "set_"
}  # the interpreter's host aliasing of tensor arguments (see above)
# (source argument index, destination) of the copy ops that carry kernel-written bytes along
_COPIES = {
    "clone": (0, "out"),
    "_to_copy": (0, "out"),
    "copy_": (1, 0),
    "_copy_from": (0, 1),
    "_copy_from_and_resize": (0, 1),
}


def _launchers():
    """(class, method name) of every Triton launch entry point this Triton version has."""
    found = []
    try:
        from triton.runtime.jit import JITFunction

        found.append((JITFunction, "run"))
    except ImportError:
        pass
    try:
        from triton.runtime.interpreter import GridExecutor

        found.append((GridExecutor, "__call__"))
    except ImportError:
        pass
    return found


def _key(t: torch.Tensor):
    return (str(t.device), t.untyped_storage().data_ptr())


def _bytes(t: torch.Tensor) -> torch.Tensor:
    """A copy of the whole storage behind `t`, as uint8."""
    raw = torch.empty(0, dtype=torch.uint8, device=t.device)
    return raw.set_(t.untyped_storage()).clone()


def _tensors(values):
    out = []
    for v in values:
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(
            getattr(v, "base", None), torch.Tensor
        ):  # triton.reinterpret wrappers
            out.append(v.base)
        elif isinstance(v, (list, tuple)):
            out.extend(_tensors(v))
    return out


class _KernelWatch(TorchDispatchMode):
    def __init__(self, impl):
        super().__init__()
        self.module_globals = vars(impl)
        self.ops: list[str] = []  # compute ops seen (names), in order
        self.kernels: list[
            tuple[str, bool]
        ] = []  # (kernel name, defined in the attempt)
        self.derived: dict = {}  # storage key -> its bytes when a kernel (or a copy) wrote it
        self.depth = 0  # > 0 inside a launch
        self.quiet = False  # the watch's own bookkeeping ops
        self.saved = []

    # -- torch ops ------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.quiet:
            return result
        name = func.overloadpacket.__name__
        if name not in _ALLOWED and not (self.depth and name in _LAUNCH_ONLY):
            self.ops.append(name)
        if not self.depth and name in _COPIES:
            self._track_copy(name, args, result)
        return result

    def _track_copy(self, name, args, result):
        src_i, dst_i = _COPIES[name]
        src = args[src_i] if len(args) > src_i else None
        dst = result if dst_i == "out" else (args[dst_i] if len(args) > dst_i else None)
        if not isinstance(src, torch.Tensor) or not isinstance(dst, torch.Tensor):
            return
        self.quiet = True
        try:
            key = _key(src)
            from_kernel = key in self.derived and torch.equal(
                self.derived[key], _bytes(src)
            )
            if from_kernel:
                self.derived[_key(dst)] = _bytes(dst)
            else:
                self.derived.pop(
                    _key(dst), None
                )  # overwritten with bytes no kernel wrote
        finally:
            self.quiet = False

    # -- launches -------------------------------------------------------------------------
    def _launched(self, fn, values):
        self.quiet = True
        try:
            name = getattr(fn, "__name__", type(fn).__name__)
            self.kernels.append(
                (name, getattr(fn, "__globals__", None) is self.module_globals)
            )
            for t in _tensors(values):
                self.derived[_key(t)] = _bytes(t)
        finally:
            self.quiet = False

    def _wrap(self, original):
        watch = self

        def launch(kernel, *args, **kwargs):
            if kwargs.get(
                "warmup"
            ):  # JITFunction.run(..., warmup=True) compiles, launches nothing
                return original(kernel, *args, **kwargs)
            watch.depth += 1
            try:
                result = original(kernel, *args, **kwargs)
            finally:
                watch.depth -= 1
            watch._launched(getattr(kernel, "fn", kernel), [*args, *kwargs.values()])
            return result

        return launch

    def __enter__(self):
        for cls, attr in _launchers():
            own = attr in cls.__dict__  # else inherited: delete our wrapper afterwards
            self.saved.append((cls, attr, cls.__dict__[attr] if own else None))
            setattr(cls, attr, self._wrap(getattr(cls, attr)))
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            while self.saved:
                cls, attr, original = self.saved.pop()
                if original is None:
                    delattr(cls, attr)
                else:
                    setattr(cls, attr, original)

    # -- the verdict ----------------------------------------------------------------------
    def check(self, out) -> None:
        assert self.kernels, (
            "softmax launched no Triton kernel: it must launch a @triton.jit kernel defined in "
            "your file (kernel[grid](...))"
        )
        assert any(ours for _, ours in self.kernels), (
            f"the Triton kernel(s) launched ({', '.join(n for n, _ in self.kernels)}) are not "
            "defined in your file: write and launch your own @triton.jit kernel"
        )
        if self.ops:
            seen = ", ".join(dict.fromkeys(f"aten.{n}" for n in self.ops))
            raise AssertionError(
                f"torch op aten.{self.ops[0]} ran outside your kernel (torch ops seen: {seen}): "
                "the kernel must do the work; the wrapper may only allocate, view and copy tensors"
            )
        assert_tensor(out)
        key = _key(out)
        ok = key in self.derived and torch.equal(self.derived[key], _bytes(out))
        assert ok, (
            "the returned tensor does not hold what your kernel wrote (it was computed or "
            "modified outside the kernel): the kernel must write the output"
        )


# Interpreters of Triton <= 3.6 turn a runtime int into a 1-element array and call int() on it to
# use it as a `range` bound; NumPy >= 2.4 refuses that. A compiled kernel is unaffected.
_OLD_INTERPRETER = "only 0-dimensional arrays can be converted to Python scalars"


def _call(impl, x):
    """impl.softmax(x), checking that x is left alone and that the attempt's kernel did the work."""
    before = x.clone()
    with _KernelWatch(impl) as watch:
        try:
            out = impl.softmax(x)
        except Exception as exc:
            if _OLD_INTERPRETER not in str(exc):
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


def _storage_view(t, shape, strides):
    """t's storage (on the CPU, float64) read with other strides from t's offset, or None when
    that would read past the end of the storage."""
    flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())
    last = t.storage_offset() + sum((n - 1) * s for n, s in zip(shape, strides))
    if last >= flat.numel():
        return None
    flat = flat.to("cpu", torch.float64)
    return flat.as_strided(shape, strides, t.storage_offset())


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
        read = _storage_view(x, (R, C), strides)
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
    x = (
        torch.arange(6.0).repeat(2, 1).to(device)
    )  # two identical rows: identical outputs
    out = _call(impl, x)
    _assert_softmax(out, x, "two identical rows 0..5")


def test_second_call_on_fresh_inputs(impl, device):
    # Same shape and dtype twice (the compiled kernel is reused): no state may leak between calls.
    for seed in (6, 7):
        x = _randn((3, 50), seed, torch.float16, device)
        _check(impl, x, f"float16 x of shape (3, 50), seed {seed}")
