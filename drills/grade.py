"""Grade a file against a card: run its verifier under pytest in a child process.

The child gets a time limit, a memory cap (address space, CPU-only hosts) and a cap on the
bytes it may write; its verdict is the JSON file it writes, read back here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drills.errors import DrillError
from engine.catalog import Card, public_names

OUTPUT_LIMIT = 64 * 1024 * 1024  # bytes a child may write to any one file
TAIL = 1500  # characters of the child's output shown when it died without a verdict


def _env_number(name: str, default: float) -> float:
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


def _memory_limit() -> int | None:
    """Address-space cap for the child, in bytes; None where a GPU driver needs a huge space."""
    if os.environ.get("DRILL_MEMORY_MB"):
        return int(_env_number("DRILL_MEMORY_MB", 0) * 1024 * 1024)
    if shutil.which("nvidia-smi") or os.path.exists("/proc/driver/nvidia"):
        return None
    return 8 * 1024 * 1024 * 1024


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - TAIL))
        return f.read().decode("utf-8", "replace").strip()


def _died(
    returncode: int, timed_out: bool, timeout: float, partial: dict | None, log: Path
):
    """A verdict for a child that left no final result."""
    running = (partial or {}).get("running")
    during = f" during {running}" if running else ""
    if timed_out:
        return (
            "timeout",
            f"the attempt ran longer than {timeout:g} s{during} (an infinite loop?)",
        )
    tail = _tail(log)
    if (
        returncode == -signal.SIGXFSZ
        or "File too large" in tail
        or log.stat().st_size >= OUTPUT_LIMIT
    ):
        return (
            "error",
            f"the attempt wrote more than {OUTPUT_LIMIT >> 20} MiB of output{during}",
        )
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return "error", f"the attempt crashed the grader with {name}{during}"
    if "MemoryError" in tail or "std::bad_alloc" in tail:
        return "error", f"the attempt ran out of memory{during}"
    return (
        "error",
        f"the grader exited ({returncode}){during} without a verdict: {tail}",
    )


def grade(card: Card, attempt: Path, *, timeout: float | None = None) -> dict:
    """Grade `attempt` with `card`'s verifier; returns DESIGN.md's JSON verdict as a dict."""
    timeout = timeout or _env_number("DRILL_TIMEOUT", card.timeout_s)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="drill-grade-") as tmp:
        tmp = Path(tmp)
        result_path, log_path = tmp / "result.json", tmp / "output.log"
        spec = {
            "card": card.slug,
            "attempt": str(Path(attempt).resolve()),
            "verify": str((card.path / "verify.py").resolve()),
            "banned": card.banned,
            "devices": card.devices,
            "interpret": card.interpret,
            "names": public_names(card.path / "reference.py"),
            "result": str(result_path),
            "limits": {"output_bytes": OUTPUT_LIMIT, "memory_bytes": _memory_limit()},
        }
        (tmp / "spec.json").write_text(json.dumps(spec))
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [root, os.environ.get("PYTHONPATH")])
            ),
        }
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        with open(log_path, "wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "drills.child", str(tmp / "spec.json")],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
            timed_out = False
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(
                        child.pid, signal.SIGKILL
                    )  # the child and anything it started
                except ProcessLookupError:
                    pass
                child.wait()
        result = json.loads(result_path.read_text()) if result_path.exists() else None
        if result is None or result.get("status") == "running":
            status, message = _died(
                child.returncode, timed_out, timeout, result, log_path
            )
            result = {**(result or {}), "status": status, "message": message}
    result.pop("running", None)
    result.pop("version", None)
    tests = result.get("tests", [])
    return {
        "card": card.slug,
        "status": result["status"],
        "passed": sum(t["status"] == "passed" for t in tests),
        "failed": sum(t["status"] == "failed" for t in tests),
        "tests": tests,
        "duration_s": round(time.perf_counter() - started, 3),
        "device": result.get("device", ""),
        "message": result.get("message", ""),
    }
