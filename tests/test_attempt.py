"""engine.attempt: check history -> summary -> quality."""

from engine.attempt import EMPTY, fold, gave_up_quality, passed_quality


def history(*checks):
    s = EMPTY
    for status, passed, failed in checks:
        s = fold(s, status, passed, failed)
    return s


def test_fold_keeps_the_best_share_and_counts_failures_before_the_pass():
    s = history(("fail", 3, 7), ("error", 0, 0), ("fail", 8, 2), ("fail", 5, 5))
    assert s == (4, 4, 8, 10)
    s = fold(s, "pass", 10, 0)
    assert (s.checks, s.failed_checks, s.best_passed, s.best_total) == (5, 4, 10, 10)


def test_quality_from_time_checks_and_hints():
    first = history(("pass", 10, 0))
    assert passed_quality(first, 600, 900, 0) == 5
    assert passed_quality(history(("fail", 1, 9), ("pass", 10, 0)), 600, 900, 0) == 4
    assert passed_quality(first, 1000, 900, 0) == 3
    assert passed_quality(first, 600, 900, 1) == 4  # the key points cap at 4
    assert passed_quality(first, 600, 900, 2) == 3  # the approach caps at 3
    assert passed_quality(first, 1000, 900, 1) == 3


def test_give_up_quality_from_the_best_check():
    assert gave_up_quality(history(("fail", 8, 2)), 900, 900) == 2
    assert gave_up_quality(history(("fail", 2, 8)), 900, 900) == 1
    assert gave_up_quality(history(("error", 0, 0)), 900, 900) == 0
    assert gave_up_quality(EMPTY, 60, 900) == 0
