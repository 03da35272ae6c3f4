"""`drill check --watch`: re-grade an attempt on every save until a check passes.

watchfiles (Rust's notify underneath) reports saves, grouped: a burst of writes within
`STEP_MS` of each other is one save. A save while a check runs cancels it (the grader kills that
child) and starts a new one; only the newest check's verdict is shown and recorded. Each verdict
is recorded like a plain `drill check`, and the first pass ends the attempt and the watch.
"""

from __future__ import annotations

import os
import queue
import threading
from datetime import datetime

from drills import attempts
from drills.report import console, print_check

STEP_MS = 80  # writes closer together than this are one save
DEBOUNCE_MS = 800  # the longest a burst of writes is grouped
TICK_MS = 100  # how often the loop looks for finished checks


def _groups(tests: list[dict], status: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for t in tests:
        if t["status"] == status:
            name = t["name"].split("[")[0]
            found[name] = found.get(name, 0) + 1
    return found


def changes(before: dict | None, after: dict) -> str:
    """One line: what changed between two verdicts of the same file."""
    if before is None:
        return ""
    was = {t["name"]: t["status"] for t in before["tests"]}
    fixed = [
        t
        for t in after["tests"]
        if t["status"] == "passed" and was.get(t["name"]) == "failed"
    ]
    broke = [
        t
        for t in after["tests"]
        if t["status"] == "failed" and was.get(t["name"]) == "passed"
    ]
    parts = []
    if before["status"] != after["status"]:
        parts.append(f"{before['status']} → {after['status']}")
    total = lambda v: v["passed"] + v["failed"]
    if total(before) and total(after) and before["passed"] != after["passed"]:
        parts.append(
            f"{before['passed']}/{total(before)} → {after['passed']}/{total(after)} passing"
        )

    def names(tests):
        counts = _groups(tests, tests[0]["status"])
        return ", ".join(
            f"{n} ({c})" if c > 1 else n for n, c in list(counts.items())[:4]
        )

    if fixed:
        parts.append(f"now passing: {names(fixed)}")
    if broke:
        parts.append(f"newly failing: {names(broke)}")
    if not parts:
        same = after.get("message") == before.get("message")
        parts.append("no test changed" + ("" if same else "; the message did"))
    return "since the last check: " + "; ".join(parts)


def watch_attempt(path, slug: str | None, record: bool = True, quality=None) -> int:
    """Watch until the first pass (exit status 0) or Ctrl-C (1)."""
    import watchfiles

    from drills.grading import grade
    from engine.clock import now

    target = attempts.target(path, slug, record)
    file = os.path.realpath(target.path)
    results: queue.Queue = queue.Queue()
    notes: list[str] = []

    def launch(generation: int) -> threading.Event:
        cancel = threading.Event()

        def work():
            try:
                verdict = grade(target.card, file, cancel=cancel, note=notes.append)
            except Exception as exc:  # noqa: BLE001 - shown in the loop, not lost in a thread
                verdict = exc
            results.put((generation, verdict))

        threading.Thread(target=work, daemon=True).start()
        return cancel

    generation, last = 0, None
    cancel = launch(generation)
    console.print(f"watching {file} — save to re-grade, Ctrl-C to stop")
    stop = threading.Event()
    watcher = watchfiles.watch(
        os.path.dirname(file),
        watch_filter=lambda _change, p: os.path.realpath(p) == file,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop,
        rust_timeout=TICK_MS,
        yield_on_timeout=True,
        recursive=False,
        raise_interrupt=False,
    )
    try:
        for saved in watcher:
            if saved and os.path.exists(file):
                cancel.set()  # the grader kills the child of the check now outdated
                generation += 1
                cancel = launch(generation)
                console.print(f"[dim]{datetime.now():%H:%M:%S} saved — grading…[/]")
            while not results.empty():
                done, verdict = results.get()
                if done != generation or verdict is None:
                    continue  # an outdated check, or one cancelled
                if isinstance(verdict, Exception):
                    raise verdict
                for line in notes:
                    console.print(line, markup=False)
                notes.clear()
                checked = attempts.record_verdict(
                    target, verdict, now(), record, quality
                )
                _show(checked, last)
                last = verdict
                if verdict["status"] == "pass":
                    return 0
    finally:
        stop.set()
        cancel.set()
    return 1


def _show(checked, last: dict | None) -> None:
    if console.is_terminal:
        console.clear()
    console.print(f"[dim]{datetime.now():%H:%M:%S}[/]")
    print_check(checked)
    line = changes(last, checked.verdict)
    if line:
        console.print(line, markup=False)
    if checked.verdict["status"] != "pass":
        console.print("[dim]watching — save to re-grade, Ctrl-C to stop[/]")
