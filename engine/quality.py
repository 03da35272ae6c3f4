"""From a measured attempt to an SM-2 quality (docs/design.md): measured, not self-rated."""

from __future__ import annotations

from dataclasses import dataclass

from engine.sm2 import Quality


@dataclass(frozen=True)
class Outcome:
    passed: bool  # the attempt ended with a passing check
    failed_checks: (
        int  # checks before the passing one (or all checks, when it did not pass)
    )
    elapsed_s: float  # from start to the passing check (or to giving up)
    target_s: float  # the card's target time
    best_fraction: (
        float  # best share of tests passing in any check (0 when never checked)
    )


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
