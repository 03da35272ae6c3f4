"""The verdict: one JSON shape for every way of grading, built here and nowhere else.

The child writes its result file with `write_result(path, make(...))`: a `running` partial while
tests run (so a child that dies mid-run still says where), the verdict at the end. The parent
turns that file, or its absence, into the final verdict with `final()`. `public()` is what
`drill check --json` prints. Standard library only: the parent never imports torch.
"""

from __future__ import annotations

import json
import os
import signal

RESULT_VERSION = 1
MESSAGE_LIMIT = 2000  # characters kept of any one message
OUTPUT_LIMIT = 64 * 1024 * 1024  # bytes a child may write to any one file
TAIL = 1500  # characters of the child's output shown when it died without a verdict
STATUSES = ("pass", "fail", "error", "timeout", "banned")
PUBLIC_KEYS = ("card", "status", "passed", "failed", "tests", "duration_s", "device")


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [truncated: {len(text) - limit} more characters]"


def make(
    card: str,
    status: str,
    tests: list[dict] | None = None,
    device: str = "",
    message: str = "",
    duration_s: float = 0.0,
) -> dict:
    """A verdict; the counts are derived from `tests`, never passed in."""
    tests = list(tests or [])
    return {
        "card": card,
        "status": status,
        "passed": sum(t["status"] == "passed" for t in tests),
        "failed": sum(t["status"] == "failed" for t in tests),
        "tests": tests,
        "duration_s": round(duration_s, 3),
        "device": device,
        "message": message,
    }


def write_result(path: str, result: dict) -> None:
    """Write atomically, so the parent never reads half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"version": RESULT_VERSION, **result}, f)
    os.replace(tmp, path)


def _read(path: str) -> dict | None:
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None
    return result if result.get("version") == RESULT_VERSION else None


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - TAIL))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _died(returncode: int, timed_out: bool, timeout: float, running, log: str):
    """(status, message) for a child that left no final result."""
    during = f" during {running}" if running else ""
    if timed_out:
        return (
            "timeout",
            f"the attempt ran longer than {timeout:g} s{during} (an infinite loop?)",
        )
    tail = _tail(log)
    size = os.path.getsize(log) if os.path.exists(log) else 0
    if (
        returncode == -signal.SIGXFSZ
        or "File too large" in tail
        or size >= OUTPUT_LIMIT
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


def final(
    card: str,
    run_dir: str,
    returncode: int,
    timed_out: bool,
    timeout: float,
    duration_s: float,
) -> dict:
    """The verdict of a finished child: its result file, or why it left none."""
    result = _read(os.path.join(run_dir, "result.json")) or {}
    status, message = result.get("status"), result.get("message", "")
    if status not in STATUSES:
        log = os.path.join(run_dir, "output.log")
        status, message = _died(
            returncode, timed_out, timeout, result.get("running"), log
        )
    verdict = make(
        card,
        status,
        result.get("tests"),
        result.get("device", ""),
        message,
        duration_s,
    )
    if isinstance(result.get("speed"), dict) and status == result.get("status"):
        verdict["speed"] = result["speed"]  # a kernel card's speed on the GPU
    return verdict


def public(verdict: dict) -> dict:
    """What `drill check --json` prints: the public keys, and `message` when there is one."""
    out = {k: verdict[k] for k in PUBLIC_KEYS}
    if verdict.get("message"):
        out["message"] = verdict["message"]
    if verdict.get("speed"):
        out["speed"] = verdict["speed"]
    return out


def speed_line(speed: dict) -> str:
    """`drill check`'s line for a kernel card's speed report (cards/kernels.py makes it)."""
    line = (
        f"speed: {speed['attempt']:.3g} {speed['unit']} against torch's "
        f"{speed['reference']:.3g} on the same inputs ({speed['speedup']:.2f}x): {speed['band']}"
    )
    return line + (f" ({speed['note']})" if speed.get("note") else "")


def failure_groups(tests: list[dict]) -> list[tuple[str, int, dict]]:
    """One entry per failing test function: (name, number of cases, {first failing message,
    failing case ids}), so twelve parametrized cases of one bug read as one line."""
    groups: dict[str, dict] = {}
    for t in tests:
        name, _, case = t["name"].partition("[")
        g = groups.setdefault(name, {"total": 0, "cases": [], "message": ""})
        g["total"] += 1
        if t["status"] == "failed":
            g["cases"].append(case.rstrip("]"))
            g["message"] = g["message"] or t["message"]
    return [(n, g["total"], g) for n, g in groups.items() if g["cases"]]


def shown_text(verdict: dict, shown: int = 12) -> str:
    """What a failing check prints: its message and each failing test's first message."""
    lines = [verdict.get("message") or ""]
    lines += [g["message"] for _, _, g in failure_groups(verdict["tests"])[:shown]]
    return "\n".join(lines)
