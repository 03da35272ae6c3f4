"""An attempt's rules: each check folds into a running summary; the summary, the clock and
the hints seen give the outcome and its SM-2 quality. Pure.

Quality is measured, not self-rated (engine.quality): 5 a first check passing in time, 4 in
time after failed checks, 3 passed late, 2 gave up with most tests passing, 1 gave up with
some, 0 with none. Hints cost quality: the contract's key points cap it at 4, the approach
at 3, and the reference ends the attempt as a give-up, as `drill solution` does during one."""

from __future__ import annotations

from collections import namedtuple

from engine.quality import Outcome, quality_of

# What an attempt keeps of its checks: the checks so far, the failed ones before a pass, and
# the best share of tests passing (as passed/total, for "best 7/10 tests").
Summary = namedtuple("Summary", "checks failed_checks best_passed best_total")
EMPTY = Summary(0, 0, 0, 0)

HINT_CAPS = {0: 5, 1: 4, 2: 3}  # hint levels seen -> the highest quality a pass can get
REFERENCE_LEVEL = 3  # the last hint: the reference, which ends the attempt as a give-up


def fold(summary: Summary, status: str, passed: int, failed: int) -> Summary:
    """The summary after one more check (a check after a pass changes nothing)."""
    checks, failed_checks, best_passed, best_total = summary
    total = passed + failed
    better = (
        status in ("pass", "fail")
        and total
        and (best_total == 0 or passed * best_total > best_passed * total)
    )
    return Summary(
        checks + 1,
        failed_checks + (status != "pass"),
        passed if better else best_passed,
        total if better else best_total,
    )


def best_fraction(summary: Summary) -> float:
    return summary.best_passed / summary.best_total if summary.best_total else 0.0


def passed_quality(
    summary: Summary, elapsed_s: float, target_s: float, hints: int
) -> int:
    """The quality of an attempt whose latest check passed (`summary` includes that check)."""
    measured = quality_of(
        Outcome(True, summary.failed_checks, elapsed_s, target_s, 1.0)
    )
    return min(int(measured), HINT_CAPS.get(hints, 2))


def gave_up_quality(summary: Summary, elapsed_s: float, target_s: float) -> int:
    return int(
        quality_of(
            Outcome(False, summary.checks, elapsed_s, target_s, best_fraction(summary))
        )
    )


def clock(started, deadline, now) -> tuple[float, float]:
    """(seconds used, seconds left: negative when over the target)."""
    return (now - started).total_seconds(), (deadline - now).total_seconds()
