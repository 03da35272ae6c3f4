"""The grading child: runs one verifier against one attempt and writes the verdict file.

Two ways in, one body (`main`): a cold child is a new Python, `python -m drills.grading.child
RUN_DIR/spec.json`; a warm child is a fork of the warm grader (`drills.grading.server`), which
has already imported torch and pytest, entering through `forked()`. Never imported by the CLI.

Order matters: the runtime guard is installed before the attempt is imported (so names bound
at import time are the guarded ones), and the Triton interpreter is switched on before Triton is
imported. The verdict is the JSON file the reporter writes, not this process's exit code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sys
import traceback

from drills.grading.banned import BannedCallError, RuntimeGuard, static_violations
from drills.grading.verdict import make, write_result


def _attempt_error(exc: BaseException, path: str) -> str:
    """One line a person can act on: the exception and the attempt's line where it happened."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError on line {exc.lineno}: {exc.msg}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    where = f" on line {line}" if line else ""
    return f"{type(exc).__name__}{where} while importing the attempt: {exc}"


def _load_attempt(path: str):
    spec = importlib.util.spec_from_file_location("attempt", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["attempt"] = module
    spec.loader.exec_module(module)
    return module


def _devices(wanted: list[str], interpret: bool) -> list[str]:
    if os.environ.get("DRILL_DEVICE"):
        devices = os.environ["DRILL_DEVICE"].split(",")
    elif "cuda" not in wanted:
        devices = [d for d in wanted if d == "cpu"]
    else:
        import torch

        have_cuda = torch.cuda.is_available()
        devices = [d for d in wanted if d == "cpu" or (d == "cuda" and have_cuda)]
        if not devices and interpret:
            # a kernel card on a machine without a GPU: Triton's interpreter
            devices = ["cpu"]
    if "cuda" not in devices:
        # Hidden before anything asks CUDA for its devices (torch keeps the first count for
        # the process's life). With a GPU visible, the first backward starts autograd's device
        # threads, and a process forked after that cannot run backward: the distributed cards
        # fork their ranks after the verifier's own backward.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return devices


def _set_limits(limits: dict) -> None:
    """Caps set here, first thing, rather than in a preexec_fn (unsafe with the bank's threads)."""
    import resource

    out = limits.get("output_bytes")
    if out:
        resource.setrlimit(resource.RLIMIT_FSIZE, (out, out))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = limits.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def main(spec_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    _set_limits(spec.get("limits", {}))
    out, path = spec["result"], spec["attempt"]
    base = {"card": spec["card"], "device": ""}

    def verdict(status: str, message: str) -> None:
        write_result(
            out, make(spec["card"], status, device=base["device"], message=message)
        )

    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        violations = static_violations(source, spec["banned"])
    except SyntaxError as exc:
        verdict("error", _attempt_error(exc, path))
        return 0
    except (OSError, UnicodeDecodeError) as exc:
        verdict("error", f"cannot read the attempt: {exc}")
        return 0
    if violations:
        message = "; ".join(v.describe() for v in violations)
        verdict("banned", message)
        return 0

    devices = _devices(spec["devices"], spec.get("interpret", False))
    if not devices:
        message = f"this card needs one of {spec['devices']} and none is available here"
        verdict("error", message)
        return 0
    base["device"] = ",".join(devices)
    if spec.get("interpret") and "cuda" not in devices:
        os.environ["TRITON_INTERPRET"] = "1"

    guard = RuntimeGuard(os.path.abspath(path), spec["banned"])
    guard.install()
    from drills.grading.plugin import Reporter  # before the watch: it is watched too
    from drills.grading.tamper import TamperWatch, tamper_message

    tamper = TamperWatch(os.path.abspath(path))
    try:
        module = _load_attempt(path)
    except BannedCallError as exc:
        verdict("banned", str(exc))
        return 0
    except BaseException as exc:  # noqa: BLE001 - any failure to import is the attempt's
        verdict("error", _attempt_error(exc, path))
        return 0
    patched = tamper.changes()
    if patched:
        verdict("banned", tamper_message(patched))
        return 0

    missing = [name for name in spec.get("names", []) if not hasattr(module, name)]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        message = (
            f"the attempt does not define {names} (see the contract in the header)"
        )
        verdict("error", message)
        return 0

    import pytest

    # Third-party pytest plugins the user happens to have installed (anyio's, pytest-randomly,
    # ...) have no say in a verdict, and loading them costs more than the tests.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if spec.get("threads"):
        import torch

        torch.set_num_threads(spec["threads"])
    reporter = Reporter(module, devices, guard, out, base, path, tamper)
    reporter.min_speedup = spec.get("min_speedup", 0.0)
    args = [
        spec["verify"],
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--rootdir",
        os.path.dirname(spec["verify"]),
        "-c",
        os.devnull,
        "--tb=short",
        "-W",
        "ignore::DeprecationWarning",
    ]
    code = pytest.main(args, plugins=[reporter])
    reporter.finish(int(code))
    return 0


def _fresh_stdio() -> None:
    """The parent's sys.stdout may be anything (a test's capture, a terminal): point the
    standard streams at fds 0-2 again."""
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - for the process's life
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115


def _die_with(parent: int) -> None:
    """Linux: a SIGKILL when the warm grader dies, so no orphan runs on without a time limit."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            # PR_SET_PDEATHSIG
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def forked(run_dir: str, env: dict, close_fds: list[int], parent: int):
    """A warm child's life, right after the fork: its own session, its own output file and
    environment, the verifier, and `os._exit` (never the parent's atexit handlers)."""
    code = 1
    try:
        _die_with(parent)
        os.setsid()
        for fd in close_fds:  # the server's socket and lock: a child must not hold them
            try:
                os.close(fd)
            except OSError:
                pass
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        log = os.open(
            os.path.join(run_dir, "output.log"),
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
            0o600,
        )
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        _fresh_stdio()
        os.chdir(run_dir)
        os.environ.clear()
        os.environ.update(env)
        sys.dont_write_bytecode = True
        code = main(os.path.join(run_dir, "spec.json"))
    except BaseException:  # noqa: BLE001 - whatever happens, this process ends here
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a full disk or a closed stream
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
