"""An attempt's rules: each check folds into a running summary; the summary, the clock and
the hints seen give the outcome and its SM-2 quality. Pure.

Quality is measured, not self-rated: 5 a first check passing in time, 4 in
time after failed checks, 3 passed late, 2 gave up with most tests passing, 1 gave up with
some, 0 with none. Hints cost quality: the contract's key points cap it at 4, the approach
at 3, and the reference ends the attempt as a give-up, as `drill solution` does during one."""

from __future__ import annotations

from collections import namedtuple

from engine.sm2 import Quality

# An ended attempt, as quality_of needs it: passed (ended with a passing check), failed checks
# (before the passing one, or all when it did not pass), elapsed and target seconds, and the
# best share of tests passing in any check (0 when never checked).
Outcome = namedtuple("Outcome", "passed failed_checks elapsed_s target_s best_fraction")

# What an attempt keeps of its checks: the checks so far, the failed ones before a pass, and
# the best share of tests passing (as passed/total, for "best 7/10 tests").
Summary = namedtuple("Summary", "checks failed_checks best_passed best_total")
EMPTY = Summary(0, 0, 0, 0)

HINT_CAPS = {0: 5, 1: 4, 2: 3}  # hint levels seen -> the highest quality a pass can get
REFERENCE_LEVEL = 3  # the last hint: the reference, which ends the attempt as a give-up


def quality_of(outcome: Outcome) -> Quality:
    """5 first check in time; 4 in time after failed checks; 3 passed late;
    2 failed with most tests passing; 1 failed; 0 nothing working or blank."""
    if outcome.passed:
        if outcome.elapsed_s > outcome.target_s:
            return Quality.PASSED_SLOW
        return Quality.PERFECT if outcome.failed_checks == 0 else Quality.PASSED
    if outcome.best_fraction > 0.5:
        return Quality.NEARLY
    if outcome.best_fraction > 0:
        return Quality.FAILED
    return Quality.BLACKOUT


def summary_of(row) -> Summary:
    """The summary an attempt row keeps (columns named as Summary's fields)."""
    return Summary(*(row[f] for f in Summary._fields))


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
