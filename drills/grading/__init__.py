"""Making a verdict. The journey of one `drill check`:

1. `grade()` prepares a run folder (`runner.Run`: the spec the child reads).
2. The warm grader (`server`, reached through `client`) forks a child; without one (DRILL_WARM=0,
   no fork, or trouble, said in one line) a cold child is a new Python (`runner.run_cold`).
3. The child (`child`) installs the banned-API guard (`banned`) and the tamper watch (`tamper`),
   imports the attempt, runs the card's verify.py under pytest with the reporter (`plugin`), and
   writes its verdict to the run folder.
4. The parent reads it back (`verdict.final`): the child's verdict, or why it left none.
"""

from __future__ import annotations

import sys

from drills.grading.runner import Run, run_cold


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _check_device_setting() -> None:
    import os

    from drills.errors import DrillError

    chosen = os.environ.get("DRILL_DEVICE", "")
    unknown = (
        [d for d in chosen.split(",") if d not in ("cpu", "cuda")] if chosen else []
    )
    if unknown:
        raise DrillError(
            f"DRILL_DEVICE={chosen}: drill grades on cpu and cuda (e.g. DRILL_DEVICE=cpu,cuda)"
        )


def grade(
    card,
    attempt,
    *,
    timeout: float | None = None,
    cancel=None,
    note=_stderr,
    warm: bool | None = None,
    socket: str | None = None,
    threads: int = 0,
) -> dict | None:
    """Grade `attempt` with `card`'s verifier: the verdict as a dict (`verdict.make`), or None
    when `cancel` (a threading.Event) was set before it finished."""
    from drills.grading import client

    _check_device_setting()
    warm = client.enabled() if warm is None else warm
    run = Run(card, attempt, timeout, threads)
    try:
        if warm:
            try:
                outcome = client.run_warm(run, cancel, socket)
            except client.WarmUnavailable as exc:
                note(f"warm grader unavailable ({exc}): grading in a cold child")
                run.cleanup()
                run = Run(card, attempt, timeout, threads)
                outcome = run_cold(run, cancel)
        else:
            outcome = run_cold(run, cancel)
        return None if outcome is None else run.verdict(*outcome)
    finally:
        run.cleanup()
