"""One grading run, from the parent's side: its folder, a child (warm or cold), its verdict.

`Run(...)` writes the run's folder (spec.json; the child adds result.json and output.log).
A cold child is a new Python started here; a warm child is forked by the warm grader
(`drills.grading.server`) at our request. Either way the parent waits with a time limit, kills
the child's whole process group at the end, and reads the verdict back with `verdict.final`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from drills.errors import DrillError
from drills.grading.verdict import OUTPUT_LIMIT, final
from engine.catalog import Card, public_names

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLL_S = 0.005  # how often a waiting parent looks at its child


def env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise DrillError(f"{name} must be a positive number, got {text!r}")
    return value


def gpu_host() -> bool:
    """An NVIDIA driver is installed (asked without initialising CUDA)."""
    return bool(shutil.which("nvidia-smi") or os.path.exists("/proc/driver/nvidia"))


def memory_limit() -> int | None:
    """Address-space cap for the child, in bytes; None where a GPU driver needs a huge space."""
    if os.environ.get("DRILL_MEMORY_MB"):
        return int(env_number("DRILL_MEMORY_MB", 0) * 1024 * 1024)
    if gpu_host():
        return None
    return 8 * 1024 * 1024 * 1024


def triton_mode(card: Card) -> str | None:
    """How a Triton card's kernels will run: "interpret" or "compile"; None for other cards.
    (The child decides for sure; this is for the warm grader, whose Triton, once imported, is
    either interpreted or compiled for good.)"""
    if not card.interpret:
        return None
    devices = os.environ.get("DRILL_DEVICE")
    wanted = devices.split(",") if devices else card.devices
    return "compile" if gpu_host() and "cuda" in wanted else "interpret"


def child_env() -> dict:
    """The environment a child runs in: the caller's, with the project importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Run:
    """A grading run's folder and limits. `verdict()` once the child has ended."""

    def __init__(
        self, card: Card, attempt, timeout: float | None = None, threads: int = 0
    ):
        self.card = card
        self.timeout = timeout or env_number("DRILL_TIMEOUT", card.timeout_s)
        self.dir = tempfile.mkdtemp(prefix="drill-grade-")
        self.started = time.perf_counter()
        verify = os.path.join(card.folder, "verify.py")
        names, self.preload = _parsed(card.folder)
        spec = {
            "card": card.slug,
            "attempt": os.path.abspath(os.fspath(attempt)),
            "verify": os.path.abspath(verify),
            "banned": card.banned,
            "devices": card.devices,
            "interpret": card.interpret,
            "min_speedup": card.min_speedup,
            "names": names,
            "result": os.path.join(self.dir, "result.json"),
            "limits": {"output_bytes": OUTPUT_LIMIT, "memory_bytes": memory_limit()},
            "threads": threads,
        }
        with open(os.path.join(self.dir, "spec.json"), "w") as f:
            json.dump(spec, f)
        self.triton = triton_mode(card)

    def verdict(self, returncode: int, timed_out: bool) -> dict:
        duration = time.perf_counter() - self.started
        return final(
            self.card.slug, self.dir, returncode, timed_out, self.timeout, duration
        )

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# CPython 3.11's ast.parse is not safe in two threads at once (the bank grades from a pool)
_PARSE_LOCK = threading.Lock()
_PARSED: dict[tuple, tuple[list[str], list[str]]] = {}


def _parsed(folder: str) -> tuple[list[str], list[str]]:
    """(the reference's public names, the verifier's imports), parsed once per file version."""
    reference = os.path.join(folder, "reference.py")
    verify = os.path.join(folder, "verify.py")
    key = tuple(
        (p, os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in (reference, verify)
    )
    with _PARSE_LOCK:
        if key not in _PARSED:
            _PARSED[key] = (public_names(reference), verifier_imports(verify))
        return _PARSED[key]


def verifier_imports(verify: str) -> list[str]:
    """The modules a verifier imports, anywhere in it (the warm grader preloads the heavy ones:
    `transformers` alone is a lazy shell, its Llama module is what costs)."""
    import ast

    try:
        with open(verify, encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    names = set()
    # `torch.optim.SGD(...)`: its first step imports torch._dynamo
    if "optim" in source:
        names.add("torch._dynamo")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from a.b import c` imports a.b, and c may be the module a.b.c
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return sorted(names)


# exit statuses collected early where waitid is missing (macOS)
_REAPED: dict[int, int] = {}


def exited(pid: int) -> bool:
    """Has the child ended? (Where waitid exists it stays a zombie until `reap`.)"""
    try:
        if not hasattr(os, "waitid"):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                _REAPED[pid] = os.waitstatus_to_exitcode(status)
            return bool(done)
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, pid, flags) is not None
    except ChildProcessError:
        return True


def reap(pid: int) -> int:
    """Kill what is left of the child's process group, then collect its exit status."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if pid in _REAPED:
        return _REAPED.pop(pid)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return -signal.SIGKILL
    return os.waitstatus_to_exitcode(status)


def run_cold(run: Run, cancel=None) -> tuple[int, bool] | None:
    """A new Python for the child; (returncode, timed_out), or None if `cancel` was set."""
    with open(os.path.join(run.dir, "output.log"), "wb") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drills.grading.child",
                os.path.join(run.dir, "spec.json"),
            ],
            cwd=run.dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env(),
        )
    deadline = time.monotonic() + run.timeout
    timed_out = cancelled = False
    try:
        while not exited(child.pid):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(POLL_S)
    finally:
        child.returncode = reap(child.pid)  # also on KeyboardInterrupt
    return None if cancelled else (child.returncode, timed_out)
