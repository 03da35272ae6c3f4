"""The scheduling step: every decision about what one review does to a card's state. Pure.

    step(state, quality, day) -> (new_state, review)

`day` is the study day the attempt *started* on (see `review_day`). The rules, and why:

- The first review of a card on a study day is an SM-2 review (engine.sm2).
- Early review (the card is not due yet): followed Anki's rule for reviewing ahead. A pass
  never shortens the interval and stretches it only by the days that actually passed:
  interval = max(interval, ceil(days_since_last_review * EF)). A failure is a lapse as usual.
  Counting an early pass in full would hand out an interval earned over days that never passed.
- Same-day repeats: SM-2 brings back an item graded below 4 the same day. A card here is a
  10-30 minute implementation, not a flashcard, so:
  * a failure (quality < 3) comes back once more today: the repeat right after reading the
    reference is where the learning happens;
  * a slow pass (quality 3) does not: it is a pass, and SM-2 already lowers its ease;
  * at most MAX_REPEATS repeats a day; a card failed again is back tomorrow (interval 1).
  A repeat is logged but leaves the SM-2 state alone.
- Spill-over: a repeat is for its day. One not started by the rollover is dropped (a failed
  card is due the next day anyway); one started before the rollover and finished after it is
  still that day's repeat, never a second review counted early.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime, timedelta

from engine.sm2 import INITIAL_EASINESS, review_x100

MAX_REPEATS = 1  # same-day repeats of one card per study day


class CardState(
    namedtuple(
        "CardState",
        "card repetitions interval ease_x100 due again_on last_review lapses reviews"
        " first_day day_reviews",
        defaults=(1,),
    )
):
    """A card's schedule (one `schedule` row): dates as ISO strings, EF in hundredths,
    `day_reviews` reviews on `last_review`'s day. Named tuples: cheap on the light path."""

    __slots__ = ()

    @property
    def easiness(self) -> float:
        return self.ease_x100 / 100

    def repeat_pending(self, day: date) -> bool:
        return self.again_on == day.isoformat()


# The review log's row, without its time and source (the caller adds those).
Review = namedtuple(
    "Review", "card day quality kind counted repetitions interval ease_x100 due"
)


def review_day(started: datetime, rollover_hour: int) -> date:
    """The study day an attempt belongs to: the one it started on (spill-over rule)."""
    from engine.clock import study_day

    return study_day(started, rollover_hour)


def new_state(card: str, day: date) -> CardState:
    return CardState(
        card,
        0,
        0,
        round(INITIAL_EASINESS * 100),
        day.isoformat(),
        None,
        None,
        0,
        0,
        day.isoformat(),
        0,
    )


def step(state: CardState | None, card: str, quality: int, day: date):
    """(new state, Review) after a review graded `quality` on study day `day`."""
    if not 0 <= quality <= 5:
        raise ValueError(f"quality must be 0..5, got {quality}")
    s = state or new_state(card, day)
    today = day.isoformat()
    first = s.last_review is None or today > s.last_review
    if first:
        kind = "early" if s.repetitions > 0 and today < s.due else "first"
        reps, interval, ease = review_x100(
            s.repetitions, s.interval, s.ease_x100, quality
        )
        if kind == "early" and quality >= 3:
            elapsed = (day - date.fromisoformat(s.last_review)).days
            interval = max(s.interval, -(-elapsed * ease // 100))
        due = (day + timedelta(days=interval)).isoformat()
        repeats_left = MAX_REPEATS
        s = s._replace(
            repetitions=reps,
            interval=interval,
            ease_x100=ease,
            due=due,
            lapses=s.lapses + (quality < 3),
            last_review=today,
            day_reviews=1,
        )
    elif s.last_review == today:  # a same-day repeat: logged, the SM-2 state stays
        kind = "repeat"
        repeats_left = MAX_REPEATS - s.day_reviews
        s = s._replace(day_reviews=s.day_reviews + 1)
    else:  # an attempt from before the card's last review, ending late: logged only
        s = s._replace(reviews=s.reviews + 1)
        return s, Review(card, today, quality, "repeat", False, *s[1:4], s.due)
    again = quality < 3 and repeats_left > 0
    s = s._replace(reviews=s.reviews + 1, again_on=today if again else None)
    review = Review(
        card, today, quality, kind, first, s.repetitions, s.interval, s.ease_x100, s.due
    )
    return s, review


def label(state: CardState | None, day: date, in_progress: bool) -> str:
    """A card's state in words, for `drill list`."""
    if in_progress:
        return "in progress"
    if state is None:
        return "new"
    if state.repeat_pending(day):
        return "again today"
    if state.due <= day.isoformat() and state.last_review != day.isoformat():
        return "due"
    return "learning" if state.repetitions < 3 else "review"
