"""The kernel cards' compile check (`cards/compile_check.py`) on a host without a GPU: launches
recorded under Triton's interpreter are compiled for an H100 by Triton's real compiler.

Each case runs in a fresh Python with TRITON_INTERPRET=1, as the grading child does."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton")

HEADER = "import torch\nimport triton\nimport triton.language as tl\n"

# A matmul of one (M, N, K) tile: the K side is the kernel's BK.
TILE_MATMUL = HEADER + textwrap.dedent("""

    @triton.jit
    def _product(a, b):
        return tl.dot(a, b)


    @triton.jit
    def _tile(a_ptr, b_ptr, c_ptr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
        rm, rn, rk = tl.arange(0, BM), tl.arange(0, BN), tl.arange(0, BK)
        a = tl.load(a_ptr + rm[:, None] * BK + rk[None, :])
        b = tl.load(b_ptr + rk[:, None] * BN + rn[None, :])
        tl.store(c_ptr + rm[:, None] * BN + rn[None, :], _product(a, b).to(tl.float16))


    def run(bm, bn, bk, **options):
        a = torch.empty(bm, bk, dtype=torch.float16)
        b = torch.empty(bk, bn, dtype=torch.float16)
        c = torch.empty(bm, bn, dtype=torch.float16)
        _tile[(1,)](a, b, c, BM=bm, BN=bn, BK=bk, **options)
""")

# triton.autotune (one config) over triton.heuristics, a grid lambda, a runtime length.
WRAPPED_ADD = HEADER + textwrap.dedent("""

    @triton.autotune(configs=[triton.Config({"BLOCK": 256}, num_warps=2)], key=["n"])
    @triton.heuristics({"EVEN": lambda args: args["n"] % args["BLOCK"] == 0})
    @triton.jit
    def _add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = None if EVEN else offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)


    def run(n):
        x = torch.empty(n)
        out = torch.empty(n)
        _add[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](x, x, out, n)
""")

CHECK = """
import json, sys
import importlib.util
from cards.compile_check import _compile, _record
spec = importlib.util.spec_from_file_location("attempt", sys.argv[1])
impl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(impl)
args = json.loads(sys.argv[2])
launches, unknown = _record(impl, lambda impl: impl.run(*args["args"], **args["kwargs"]))
result = _compile(impl, launches) if launches else {}
print(json.dumps({"launches": launches, "unknown": unknown, **result}))
"""


def compile_check(tmp_path, source, *args, **kwargs):
    path = tmp_path / "attempt.py"
    path.write_text(source)
    env = {"TRITON_INTERPRET": "1", "TRITON_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHECK,
            str(path),
            json.dumps({"args": args, "kwargs": kwargs}),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(
        done.stdout.splitlines()[-1]
    )  # after anything the attempt printed


def test_a_correct_kernel_compiles(tmp_path):
    result = compile_check(tmp_path, TILE_MATMUL, 16, 32, 16, num_warps=4)
    assert len(result["launches"]) == 1
    assert result["failures"] == []


def test_a_dot_under_16_runs_in_the_interpreter_but_is_named_at_its_line(tmp_path):
    result = compile_check(tmp_path, TILE_MATMUL, 16, 32, 8)
    [failure] = result["failures"]
    line = TILE_MATMUL.splitlines().index("    return tl.dot(a, b)") + 1
    assert failure.startswith("_tile(float16, BM=16, BN=32, BK=8)"), failure
    assert f"line {line}: `return tl.dot(a, b)`" in failure
    assert "K >= 16" in failure


def test_tiles_past_the_shared_memory_of_an_h100_are_named(tmp_path):
    result = compile_check(tmp_path, TILE_MATMUL, 256, 256, 512, num_warps=8)
    [failure] = result["failures"]
    assert "KiB of shared memory per program and an H100 has 227 KiB" in failure


def test_num_warps_must_be_a_power_of_two(tmp_path):
    result = compile_check(tmp_path, TILE_MATMUL, 16, 32, 16, num_warps=3)
    [failure] = result["failures"]
    assert "num_warps must be a power of 2" in failure


def test_autotune_heuristics_and_a_grid_lambda_are_compiled_through(tmp_path):
    result = compile_check(tmp_path, WRAPPED_ADD, 1000)
    [launch] = result["launches"]
    assert launch["kernel"] == "_add"
    assert launch["kwargs"]["BLOCK"] == {"value": 256}  # the config reached the launch
    assert launch["kwargs"]["num_warps"] == {"value": 2}
    assert result["failures"] == []


def test_only_the_attempts_own_kernels_are_compiled(tmp_path):
    (tmp_path / "library.py").write_text(WRAPPED_ADD)
    source = HEADER + textwrap.dedent(f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("library", {str(tmp_path / "library.py")!r})
        library = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(library)


        def run(n):
            library.run(n)
    """)
    result = compile_check(tmp_path, source, 1000)
    assert result == {"launches": [], "unknown": []}


def test_an_attempt_that_prints_is_still_judged(tmp_path):
    source = 'print("loading my kernels")\n' + TILE_MATMUL
    result = compile_check(tmp_path, source, 16, 32, 16)
    assert result["failures"] == []


def test_a_compiler_error_is_named_by_the_attempts_line_and_the_reason(tmp_path):
    # Triton wraps the reason once per nested call; the verdict wants the innermost one, placed
    # in the user's file (the node's line counts from the kernel's def).
    import ast

    from triton.compiler.errors import CompilationError

    from drills.grading.triton_errors import describe

    attempt = tmp_path / "attempt.py"
    attempt.write_text(TILE_MATMUL)
    src = textwrap.dedent("""\
        def _product(a, b):
            return tl.dot(a, b)
    """)
    node = ast.parse(src).body[0].body[0]
    reason = "AssertionError('Input shapes should have M >= 1, N >= 1 and K >= 16')"
    try:
        try:
            raise CompilationError(src, node, reason)
        except CompilationError as inner:
            raise CompilationError(src, node, None) from inner
    except CompilationError as outer:
        text = describe(outer, str(attempt))
    line = TILE_MATMUL.splitlines().index("def _product(a, b):") + 2
    assert text == f"line {line}: `return tl.dot(a, b)`: {reason}"
    assert describe(ValueError("not from Triton"), str(attempt)) is None
