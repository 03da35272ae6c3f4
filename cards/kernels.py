"""Proof that a kernel card's own Triton kernel did the work (the card kit's launch watch).

`KernelWatch(impl, name)` is entered around one call of the attempt's `name` and, with
`check(out)`, fails the test unless the attempt's own kernel computed `out`. It watches three
things for the duration of the call (and restores everything afterwards):

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

Also shared by the kernel cards' verifiers: `poisoned_empty()` (fresh memory is NaN, so tiles
no kernel wrote show), `skip_bf16_off_gpu(device, dtype)` and `storage_view(t, shape, strides)`
(what a kernel that ignores t's strides reads).
"""

import contextlib

import pytest
import torch

from cards.checks import QuietDispatchMode, assert_tensor

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
# the interpreter's host aliasing of tensor arguments (see above)
_LAUNCH_ONLY = {"set_"}
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
        elif isinstance(getattr(v, "base", None), torch.Tensor):
            # triton.reinterpret wrappers
            out.append(v.base)
        elif isinstance(v, (list, tuple)):
            out.extend(_tensors(v))
    return out


class KernelWatch(QuietDispatchMode):
    def __init__(self, impl, name: str = "the call"):
        super().__init__()
        self.name = name
        self.module_globals = vars(impl)
        self.ops: list[str] = []  # compute ops seen (names), in order
        # (kernel name, defined in the attempt)
        self.kernels: list[tuple[str, bool]] = []
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
                # overwritten with bytes no kernel wrote
                self.derived.pop(_key(dst), None)
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
            # JITFunction.run(..., warmup=True) compiles, launches nothing
            if kwargs.get("warmup"):
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
            f"{self.name} launched no Triton kernel: it must launch a @triton.jit kernel defined in "
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
OLD_INTERPRETER = "only 0-dimensional arrays can be converted to Python scalars"


@contextlib.contextmanager
def poisoned_empty():
    """torch.empty and friends return NaN-filled memory (integers: their max) for the duration:
    deterministic mode's fill, so output a kernel never wrote shows."""
    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    # torch._C's switch, not torch.use_deterministic_algorithms: that one also sets inductor's
    # flag, importing torch._inductor (seconds) for nothing that runs here.
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        yield
    finally:
        torch._C._set_deterministic_algorithms(was, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill


def skip_bf16_off_gpu(device, dtype) -> None:
    if dtype == torch.bfloat16 and device != "cuda":
        pytest.skip(
            "bfloat16 is graded on a GPU only (Triton's interpreter gets bfloat16 math wrong)"
        )


def storage_view(t, shape, strides):
    """t's storage read with `shape` and `strides` from t's offset (what a kernel that ignores
    t's own strides reads), float64 on the CPU; None when that would read past the storage."""
    flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())
    last = t.storage_offset() + sum((n - 1) * s for n, s in zip(shape, strides))
    if last >= flat.numel():
        return None
    return flat.to("cpu", torch.float64).as_strided(shape, strides, t.storage_offset())
