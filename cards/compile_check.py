"""Would the attempt's Triton kernels compile for a GPU? The card kit's check for grading without one.

Triton's interpreter runs a kernel with NumPy and accepts code that the GPU compiler rejects: a
`tl.dot` with a dimension under 16, a Python construct the compiler does not support, a block
size that is not a power of two, tiles that need more shared memory than an SM has. So where the
kernels are interpreted, a kernel card also compiles the attempt's kernels for an H100 (sm_90)
with the installed Triton's real compiler, which needs no GPU (Triton ships `ptxas`). A kernel
card's verifier adds it as its last test, naming the calls worth compiling:

    test_compiles_for_a_gpu = compile_test(
        lambda impl: [impl.add(empty(n), empty(n)) for n in (1, 4099, 1 << 24)]
    )

It runs once the other tests pass (a compile takes seconds; Triton caches it, so an unchanged
kernel compiles once). It calls the attempt while the interpreter's launch only records each
launch (nothing runs, so GPU-sized shapes cost nothing), then hands the distinct launches (kernel, argument types, constexprs, num_warps, num_stages) to a fresh Python running
this file, where Triton is not in interpreter mode: it imports the attempt again and compiles
each launch to a cubin, specialised as a GPU launch would be (constants, alignment hints). On a
GPU the same calls are launched for real, on uninitialised GPU tensors: the other tests' small
shapes can miss a launch only the large ones make (num_warps taken from N, say).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

# The most shared memory one program may use on an H100 (227 KiB, the opt-in maximum); Triton
# refuses to launch a kernel that needs more.
H100_SHARED_BYTES = 232448
TARGET = ("cuda", 90, 32)  # (backend, compute capability, warp size): an H100
_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg")
_TIMEOUT_S = 300


# -- the grading side: record the launches, start the compiler, read its verdict ---------------
def _encode(value):
    """A kernel argument as JSON: tensors by dtype, scalars as they are; None when unknown."""
    import torch

    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        return {"tensor": dtype, "aligned": value.data_ptr() % 16 == 0}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if type(value).__name__ == "constexpr":  # tl.constexpr(...)
        return _encode(value.value)
    if type(value).__name__ == "dtype" and hasattr(value, "primitive_bitwidth"):
        return {"tl_dtype": value.name}  # e.g. OUT_DTYPE=tl.float16
    return None


class _Recorder:
    """Replaces the interpreter's launch: each launch of a kernel defined in the attempt's file is
    recorded as (kernel name, encoded args, encoded kwargs) and not run."""

    def __init__(self, impl):
        self.module_globals = vars(impl)
        self.launches: list[str] = []
        self.unknown: list[str] = []
        self.saved = None

    def __enter__(self):
        from triton.runtime.interpreter import GridExecutor

        recorder = self

        def record(executor, *args, **kwargs):
            fn = executor.fn
            if getattr(fn, "__globals__", None) is not recorder.module_globals:
                return
            encoded = [_encode(a) for a in args]
            named = {k: _encode(v) for k, v in kwargs.items()}
            if None in encoded or None in named.values():
                recorder.unknown.append(fn.__name__)
                return
            launch = {"kernel": fn.__name__, "args": encoded, "kwargs": named}
            recorder.launches.append(json.dumps(launch, sort_keys=True))
            return

        self.saved = GridExecutor.__dict__["__call__"]
        GridExecutor.__call__ = record
        return self

    def __exit__(self, *exc):
        from triton.runtime.interpreter import GridExecutor

        GridExecutor.__call__ = self.saved


def _record(impl, calls) -> tuple[list[dict], list[str]]:
    """(the distinct launches `calls(impl)` makes, the kernels whose arguments are unknown)."""
    # the attempt's own errors are the other tests' to report
    with _Recorder(impl) as recorder, contextlib.suppress(Exception):
        calls(impl)
    return [json.loads(s) for s in dict.fromkeys(recorder.launches)], recorder.unknown


def _compile(impl, launches: list[dict]) -> dict:
    """This file's verdict on the launches, run in a fresh Python without the interpreter:
    {"triton": version, "failures": [...]}, or {"unavailable": why}."""
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9 warns when it is unset
    request = {"attempt": os.path.abspath(impl.__file__), "launches": launches}
    try:
        done = subprocess.run(
            [sys.executable, __file__],
            check=False,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            timeout=_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"unavailable": f"compiling took over {_TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"unavailable": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    try:
        return json.loads(lines[-1])  # the verdict is the last line
    except json.JSONDecodeError:
        return {"unavailable": f"unreadable compiler output: {lines[-1][:100]}"}


def compile_test(calls):
    """The test a kernel card's verifier defines last. It compiles only once every other test has
    passed: a failing attempt's verdict is not slowed down, and a mutant costs no compile."""

    def test_compiles_for_a_gpu(impl, device, request):
        """The kernels this attempt launches at the card's GPU-sized shapes build for a GPU: on
        one, launched for real; off one, compiled for an H100 (sm_90), not run."""
        import pytest

        if request.session.testsfailed:
            pytest.skip("compiled for a GPU once the other tests pass")
        if device == "cuda":
            _launch_on_gpu(impl, calls)
            return
        if os.environ.get("TRITON_INTERPRET") != "1":
            pytest.skip(
                "Triton is not interpreting here: the other tests compiled the kernels"
            )
        launches, unknown = _record(impl, calls)
        if not launches:
            why = "its launches pass arguments this check cannot describe"
            pytest.skip(why if unknown else "the attempt launched no kernel of its own")
        result = _compile(impl, launches)
        if "unavailable" in result:
            pytest.skip(f"could not compile for a GPU here: {result['unavailable']}")
        failures = result["failures"]
        assert not failures, (
            "your kernel runs under Triton's interpreter, but Triton "
            f"{result['triton']}'s compiler rejects it for a GPU (an H100, sm_90), so it "
            f"would not run on one: {failures[0]}" + _more(len(failures) - 1)
        )

    return test_compiles_for_a_gpu


def _launch_on_gpu(impl, calls) -> None:
    """Run `calls` on the GPU (their tensors made there, left uninitialised): the other tests'
    small shapes can miss a launch that only the card's large ones make (a num_warps from N)."""
    import torch

    from cards.checks import raised

    try:
        with torch.device("cuda"):
            calls(impl)
        torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - whatever the launch raises is the verdict
        path = getattr(impl, "__file__", "") or ""
        raise AssertionError(
            "your kernel fails on this GPU at the card's GPU-sized shapes: "
            + raised(exc, path)
        ) from None


def _more(n: int) -> str:
    return f" (and {n} more launch{'es' if n > 1 else ''})" if n else ""


# -- the compiling side: a fresh Python, Triton not in interpreter mode --------------------------
def _load(path, name: str = "_drill_compiled_attempt"):
    """The module at `path`, imported under `name` (not registered in sys.modules)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jit(obj):
    """The JITFunction under triton.autotune / triton.heuristics wrappers, or None."""
    from triton.runtime.jit import JITFunction

    for _ in range(8):
        if isinstance(obj, JITFunction):
            return obj
        obj = getattr(obj, "fn", None)
    return None


def _decode(encoded):
    import triton.language as tl

    if "tensor" in encoded:
        return encoded
    if "tl_dtype" in encoded:
        return tl.dtype(encoded["tl_dtype"])
    return encoded["value"]


_POINTEE = {
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float64": "fp64",
    "int64": "i64",
    "int32": "i32",
    "int16": "i16",
    "int8": "i8",
    "uint8": "u8",
    "bool": "i1",
}


def _scalar_type(value, annotation: str | None) -> str:
    if annotation:
        return annotation
    if isinstance(value, bool):
        return "u1"
    if isinstance(value, int):
        return "i32" if -(2**31) <= value < 2**31 else "i64"
    return "fp32"


def _source(jit, launch):
    """(ASTSource, compile options, a readable description) of one recorded launch, specialised
    as Triton's own launcher does: constexprs, None and ints equal to 1 become constants, and
    16-aligned pointers and multiples of 16 carry the divisibility hint."""
    import inspect

    import triton
    from triton.backends.compiler import GPUTarget

    backend = triton.compiler.make_backend(GPUTarget(*TARGET))
    params = inspect.signature(jit.fn).parameters
    args = [_decode(a) for a in launch["args"]]
    kwargs = {k: _decode(v) for k, v in launch["kwargs"].items()}
    options = {k: v for k, v in kwargs.items() if k in _OPTIONS}
    named = {k: v for k, v in kwargs.items() if k in params}
    bound = inspect.signature(jit.fn).bind(*args, **named)
    bound.apply_defaults()
    signature, constexprs, attrs, shown = {}, {}, {}, []
    for i, (name, kp) in enumerate(zip(params, jit.params)):
        value = bound.arguments[name]
        annotation = getattr(kp, "annotation_type", None) or None
        plain_int = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, dict):  # a tensor
            signature[name] = "*" + _POINTEE[value["tensor"]]
            shown.append(value["tensor"])
            aligned = value["aligned"] and not kp.do_not_specialize_on_alignment
        elif kp.is_constexpr or value is None:
            signature[name], constexprs[(i,)] = "constexpr", value
            if kp.is_constexpr:
                shown.append(f"{name}={value}")
            continue
        elif plain_int and value == 1 and not annotation and not kp.do_not_specialize:
            signature[name], constexprs[(i,)] = "constexpr", 1
            continue
        else:
            signature[name] = _scalar_type(value, annotation)
            aligned = plain_int and value % 16 == 0 and not kp.do_not_specialize
        if aligned:
            attrs[(i,)] = backend.parse_attr("D")
    shown += [f"{k}={v}" for k, v in options.items()]
    source = triton.compiler.ASTSource(jit, signature, constexprs, attrs)
    return source, options, f"{launch['kernel']}({', '.join(dict.fromkeys(shown))})"


def _where(exc, path: str) -> str:
    """'line N: <code>: <what the compiler said>' for the innermost compiler error."""
    from drills.grading.triton_errors import describe

    return describe(exc, path) or " ".join(str(exc).split())[:600]


_JOBS: list = []  # (JITFunction, launch, attempt path), set before the pool forks


def _compile_one(index: int):
    import triton
    from triton.backends.compiler import GPUTarget

    jit, launch, path = _JOBS[index]
    try:
        source, options, shown = _source(jit, launch)
    except Exception:  # noqa: BLE001 - a launch this check cannot describe is not checked
        return None
    try:
        compiled = triton.compile(source, target=GPUTarget(*TARGET), options=options)
    except Exception as exc:  # noqa: BLE001 - every compiler error is the verdict
        return f"{shown}: {_where(exc, path)}"
    shared = compiled.metadata.shared
    if shared > H100_SHARED_BYTES:
        return (
            f"{shown} needs {shared // 1024} KiB of shared memory per program and an H100 has "
            f"{H100_SHARED_BYTES // 1024} KiB: use smaller tiles or fewer num_stages"
        )
    return None


def _main() -> int:
    request = json.load(sys.stdin)
    try:
        import triton
        from triton.backends.compiler import GPUTarget  # noqa: F401

        with contextlib.redirect_stdout(
            sys.stderr
        ):  # the attempt's prints are not the verdict
            module = _load(request["attempt"])
    except Exception as exc:  # noqa: BLE001 - reported as "not checked", not as a failure
        print(json.dumps({"unavailable": f"{type(exc).__name__}: {exc}"}))
        return 0
    for launch in request["launches"]:
        jit = _jit(getattr(module, launch["kernel"], None))
        if jit is not None:
            _JOBS.append((jit, launch, request["attempt"]))
    workers = max(1, min(len(_JOBS), os.cpu_count() or 1, 4))
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_compile_one, range(len(_JOBS)), chunksize=1)
    else:
        results = [_compile_one(i) for i in range(len(_JOBS))]
    failures = [r for r in results if r]
    print(json.dumps({"triton": triton.__version__, "failures": failures}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
