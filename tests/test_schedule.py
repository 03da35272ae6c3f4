"""engine.schedule.step: every scheduling decision, as a table."""

from datetime import date

import pytest

from engine.schedule import MAX_REPEATS, CardState, step

D = date(2026, 12, 1)


def at(days: int) -> date:
    return date.fromordinal(D.toordinal() + days)


def run(grades):
    """Apply (day offset, quality) reviews from nothing; the reviews' (kind, interval, due
    offset, again today)."""
    state, out = None, []
    for day, quality in grades:
        state, review = step(state, "c", quality, at(day))
        due = date.fromisoformat(review.due).toordinal() - D.toordinal()
        out.append((review.kind, review.interval, due, state.again_on is not None))
    return state, out


@pytest.mark.parametrize(
    "grades, expected",
    [
        # SM-2 as published: 1, 6, then I * EF
        (
            [(0, 5), (1, 5), (7, 5)],
            [("first", 1, 1, False), ("first", 6, 7, False), ("first", 17, 24, False)],
        ),
        # a failure: one repeat today, then back tomorrow
        ([(0, 1)], [("first", 1, 1, True)]),
        ([(0, 1), (0, 1)], [("first", 1, 1, True), ("repeat", 1, 1, False)]),
        # a slow pass is a pass: no repeat today
        ([(0, 3)], [("first", 1, 1, False)]),
        # repeats are bounded: a learner failing all day gets MAX_REPEATS, then nothing
        ([(0, 0)] * 5, [("first", 1, 1, True)] + [("repeat", 1, 1, False)] * 4),
        # a repeat passing leaves the SM-2 state alone
        ([(0, 2), (0, 5)], [("first", 1, 1, True), ("repeat", 1, 1, False)]),
        # early review (Anki's rule for reviewing ahead): interval never shrinks, grows by
        # the days that passed x EF; here 2 days after a 6-day interval: max(6, ceil(2 * 2.8))
        (
            [(0, 5), (1, 5), (3, 5)],
            [("first", 1, 1, False), ("first", 6, 7, False), ("early", 6, 9, False)],
        ),
        # ... and 5 days in, elapsed 4: max(6, ceil(4 * 2.8)) = 12 (EF after this review)
        (
            [(0, 5), (1, 5), (5, 5)],
            [("first", 1, 1, False), ("first", 6, 7, False), ("early", 12, 17, False)],
        ),
        # an early failure is a lapse like any other
        (
            [(0, 5), (1, 5), (3, 1)],
            [("first", 1, 1, False), ("first", 6, 7, False), ("early", 1, 4, True)],
        ),
        # an attempt from an earlier day ending after a later review is logged only
        (
            [(0, 5), (1, 5), (0, 1)],
            [("first", 1, 1, False), ("first", 6, 7, False), ("repeat", 6, 7, False)],
        ),
    ],
)
def test_step(grades, expected):
    assert run(grades)[1] == expected


def test_repeats_counted_per_day_and_reset_the_next_day():
    state, _ = run([(0, 0), (0, 0), (1, 0)])
    assert state.day_reviews == 1 and state.again_on == at(1).isoformat()
    assert state.reviews == 3 and state.lapses == 2  # the same-day repeat is no lapse
    assert MAX_REPEATS == 1


def test_ease_is_exact_and_floored():
    state, _ = run([(d, 3) for d in range(0, 200, 1)])
    assert state.ease_x100 == 130


def test_state_defaults_for_old_rows():
    old = CardState(
        "c", 1, 1, 250, "2026-12-02", None, "2026-12-01", 0, 1, "2026-12-01"
    )
    assert old.day_reviews == 1


def test_quality_out_of_range():
    with pytest.raises(ValueError):
        step(None, "c", 6, D)


def test_labels_for_drill_list():
    from engine.schedule import label

    state, _ = run([(0, 1)])
    assert label(state, D, False) == "again today"
    assert label(state, D, True) == "in progress"
    assert label(None, D, False) == "new"
    assert label(state, at(1), False) == "due"
    state, _ = run([(0, 5), (1, 5), (7, 5)])
    assert label(state, at(8), False) == "review"
    state, _ = run([(0, 5)])
    assert label(state, D, False) == "learning"  # passed today: not due again today
