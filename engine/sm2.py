"""SM-2 (Wozniak, 1990), as published, with its ambiguous points decided.

    I(1) = 1, I(2) = 6, I(n) = I(n-1) * EF               (days)
    EF' = EF + (0.1 - (5 - q) * (0.08 + (5 - q) * 0.02)),  floored at 1.3
    q < 3: repetitions restart from I(1)

Decisions where the text is ambiguous:
- Rounding: the paper says "if interval is a fraction, round it up": I(n) = ceil(I(n-1) * EF).
- Which EF: the interval is computed with the EF *after* this review, so the grade just given
  already stretches or shrinks the next interval.
- EF after a failure (q < 3): step 6 says "start repetitions from the beginning without changing
  the E-Factor", so a failure leaves EF as it was; only q >= 3 moves it.
- Exactness: every EF step is a multiple of 0.01, so EF is kept as an integer number of
  hundredths and never drifts, however many reviews pile up.
- "Items graded below 4 come back the same day" is a queue rule (engine.queue), not a change of
  interval: such repeats are logged but leave the SM-2 state alone.
"""

from __future__ import annotations

from enum import IntEnum

INITIAL_EASINESS = 2.5
MIN_EASE_X100 = 130


class Quality(IntEnum):
    BLACKOUT = 0  # gave up with nothing working, or blank
    FAILED = 1  # failed
    NEARLY = 2  # failed, most tests passing
    PASSED_SLOW = 3  # passed, over the target time
    PASSED = 4  # passed within the target time after failed checks
    PERFECT = 5  # passed on the first check within the target time


def _ease_step_x100(quality: int) -> int:
    miss = 5 - quality
    return 10 - miss * (8 + miss * 2)  # hundredths: 0.1 - (5-q)(0.08 + (5-q)0.02)


def review_x100(
    repetitions: int, interval: int, ease_x100: int, quality: int
) -> tuple[int, int, int]:
    """The exact step, EF in hundredths."""
    if not 0 <= quality <= 5:
        raise ValueError(f"quality must be 0..5, got {quality}")
    if quality < 3:
        return 0, 1, ease_x100
    ease_x100 = max(MIN_EASE_X100, ease_x100 + _ease_step_x100(quality))
    repetitions += 1
    if repetitions == 1:
        interval = 1
    elif repetitions == 2:
        interval = 6
    else:
        interval = -(-interval * ease_x100 // 100)  # ceil, in integers
    return repetitions, interval, ease_x100


def review(
    repetitions: int, interval: int, easiness: float, quality: int
) -> tuple[int, int, float]:
    """One SM-2 review: (repetitions, interval in days, easiness) after grading with `quality`."""
    reps, days, ease_x100 = review_x100(
        repetitions, interval, round(easiness * 100), quality
    )
    return reps, days, ease_x100 / 100
