from fractions import Fraction

import pytest

from engine.attempt import Outcome, quality_of
from engine.sm2 import Quality, review

# (quality, repetitions, interval, easiness) after each step, from a new card (0, 0, 2.5)
SEQUENCES = {
    "all perfect": [(5, 1, 1, 2.6), (5, 2, 6, 2.7), (5, 3, 17, 2.8), (5, 4, 50, 2.9)],
    "steady fours": [(4, 1, 1, 2.5), (4, 2, 6, 2.5), (4, 3, 15, 2.5), (4, 4, 38, 2.5)],
    "pass late then lapse": [
        (3, 1, 1, 2.36),
        (5, 2, 6, 2.46),
        (3, 3, 14, 2.32),
        (2, 0, 1, 2.32),
        (4, 1, 1, 2.32),
        (4, 2, 6, 2.32),
        (4, 3, 14, 2.32),
    ],
    "blackout first": [(0, 0, 1, 2.5), (1, 0, 1, 2.5), (5, 1, 1, 2.6)],
    "ease floors at 1.3": [
        (3, 1, 1, 2.36),
        (3, 2, 6, 2.22),
        (3, 3, 13, 2.08),
        (3, 4, 26, 1.94),
        (3, 5, 47, 1.8),
        (3, 6, 79, 1.66),
        (3, 7, 121, 1.52),
        (3, 8, 167, 1.38),
        (3, 9, 218, 1.3),
        (3, 10, 284, 1.3),
    ],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequences(name):
    reps, interval, ease = 0, 0, 2.5
    for quality, *expected in SEQUENCES[name]:
        reps, interval, ease = review(reps, interval, ease, quality)
        assert [reps, interval, ease] == expected, f"after quality {quality}"


def test_interval_rounds_up_with_the_new_ease():
    # 6 * 2.6 = 15.6 -> 16 with the ease after this review (2.5 + 0.1)
    assert review(2, 6, 2.5, 5) == (3, 16, 2.6)


def test_failure_keeps_ease_and_restarts():
    assert review(7, 120, 2.1, 2) == (0, 1, 2.1)


def test_quality_out_of_range():
    with pytest.raises(ValueError):
        review(0, 0, 2.5, 6)


def test_ease_is_exact_over_years():
    reps, interval, ease = 0, 0, 2.5
    exact = Fraction(5, 2)
    deltas = {5: Fraction(1, 10), 4: Fraction(0), 3: Fraction(-14, 100)}
    for i in range(3000):
        q = (5, 3, 4, 5, 3)[i % 5]
        reps, interval, ease = review(reps, min(interval, 365), ease, q)
        exact = max(Fraction(13, 10), exact + deltas[q])
        assert Fraction(ease).limit_denominator(100) == exact and ease == round(ease, 2)


@pytest.mark.parametrize(
    "outcome, quality",
    [
        (Outcome(True, 0, 300, 600, 1.0), Quality.PERFECT),
        (Outcome(True, 2, 300, 600, 1.0), Quality.PASSED),
        (Outcome(True, 0, 601, 600, 1.0), Quality.PASSED_SLOW),
        (Outcome(False, 3, 900, 600, 0.8), Quality.NEARLY),
        (Outcome(False, 3, 900, 600, 0.5), Quality.FAILED),
        (Outcome(False, 1, 100, 600, 0.1), Quality.FAILED),
        (Outcome(False, 1, 100, 600, 0.0), Quality.BLACKOUT),
        (Outcome(False, 0, 5, 600, 0.0), Quality.BLACKOUT),
    ],
)
def test_quality_mapping(outcome, quality):
    assert quality_of(outcome) == quality
