"""An interview date: the final week makes sure every high-frequency card is practised. Pure.

The rule (README, "An interview date"):

- A card is *high-frequency* when interviews ask it often: frequency >= HIGH_FREQUENCY (0.30).
- The *final week* is the FINAL_WEEK_DAYS (7) study days before the interview day. A card is
  *practised* there when it has a review (any grade: a failure brings SM-2's own repeat and
  next-day review) on one of those days.
- Each day of the final week, the day's plan takes its *share* of the high-frequency cards not
  yet practised that week: ceil(left / days to the interview), so the rest spreads evenly over
  the days left and the last day takes whatever is still left. The share comes first in the
  plan and counts against the budget like any card.
- Which ones first: the card you know least. By SM-2 due date (due or overdue and never-seen
  cards first; the best-known cards, due long after the interview, last, i.e. closest to it),
  then by frequency. A never-seen card whose prerequisites are not passed waits behind the
  cards whose prerequisites are.
- SM-2 stays as it is: the share is a plan decision, never a change of a card's schedule. A
  card pulled ahead of its due date is an early review (Anki's rule for reviewing ahead, as any
  early review: a pass does not hand out an interval for days that never passed). Cards below
  the threshold, and every card outside the final week, follow SM-2 untouched.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import date, timedelta

from engine.clock import ClockError
from engine.queue import CardInfo, Entry, asked

KEY = "interview_date"  # its setting
HIGH_FREQUENCY = 0.30  # a card asked in at least 30% of interviews must be fresh
FINAL_WEEK_DAYS = 7

# phase: "before" (the final week has not begun) | "final week" | "today" | "past"
# unpractised: high-frequency slugs not practised (before: never; final week: this week)
Countdown = namedtuple(
    "Countdown", "date days_left phase week_starts threshold high unpractised"
)


def parse_date(text: str) -> date:
    """A calendar date written YYYY-MM-DD (and nothing else)."""
    text = text.strip()
    digits = text[:4] + text[5:7] + text[8:]
    if len(text) != 10 or text[4] + text[7] != "--" or not digits.isdigit():
        raise ClockError(f"not a date: {text!r} (write it YYYY-MM-DD, e.g. 2027-01-15)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ClockError(f"not a date: {text!r} (no such day)") from None


def check_date(text: str, day: date) -> date:
    """The interview date to store: a real date, today or later."""
    when = parse_date(text)
    if when < day:
        raise ClockError(
            f"the interview date {when} is in the past (today is {day}): "
            f"give a later date, or `drill config {KEY} --clear`"
        )
    return when


def week_start(interview: date) -> date:
    return interview - timedelta(days=FINAL_WEEK_DAYS)


def in_final_week(day: date, interview: date) -> bool:
    return week_start(interview) <= day < interview


def high_frequency(cards: dict[str, CardInfo]) -> list[CardInfo]:
    return [c for c in cards.values() if c.frequency >= HIGH_FREQUENCY - 1e-9]


def _order(cards: list[CardInfo], states: dict, day: date, passed) -> list[CardInfo]:
    """Least known first: blocked never-seen cards last, then by due date, then frequency."""

    def key(c: CardInfo):
        s = states.get(c.slug)
        blocked = s is None and any(p not in passed for p in c.prerequisites)
        due = max(s.due, day.isoformat()) if s else day.isoformat()
        return (blocked, due, -c.frequency, c.minutes, c.slug)

    return sorted(cards, key=key)


def unpractised(cards, states, day: date, interview: date, practised: set) -> list:
    """High-frequency cards still to practise: in the final week, those without a review
    this week (`practised`: cards reviewed since the week began); before it, those never
    practised; on or after the interview day, none."""
    high = high_frequency(cards)
    if in_final_week(day, interview):
        return [c for c in high if c.slug not in practised]
    if day < interview:
        return [c for c in high if not (states.get(c.slug) and states[c.slug].reviews)]
    return []


def share(
    cards: dict[str, CardInfo],
    states: dict,
    day: date,
    interview: date,
    practised: set,
    passed,
) -> list[Entry]:
    """Today's share of the final week's cards (kind "interview"), in plan order; [] outside
    the final week. `practised`: cards with a review since the week began (today included)."""
    if not in_final_week(day, interview):
        return []
    left = _order(
        unpractised(cards, states, day, interview, practised), states, day, passed
    )
    days = (interview - day).days  # this one included
    chosen = left[: -(-len(left) // days)]
    return [
        Entry(
            c.slug,
            c.title,
            "interview",
            c.minutes,
            c.frequency,
            _reason(c, states, day, interview),
        )
        for c in chosen
    ]


def _reason(c: CardInfo, states: dict, day: date, interview: date) -> str:
    days = (interview - day).days
    when = f"interview in {days} day{'s' * (days != 1)}"
    s = states.get(c.slug)
    if s is None:
        state = "never practised"
    elif s.due <= day.isoformat():
        state = "not practised this week, due today"
    else:
        state = f"not practised this week (SM-2 due {s.due})"
    return f"{when}: {state}; {asked(c)}"


def countdown(
    cards: dict[str, CardInfo], states: dict, day: date, interview: date, practised: set
) -> Countdown:
    """What `drill today` shows: days left, and the high-frequency cards still to practise."""
    days = (interview - day).days
    if days < 0:
        phase = "past"
    elif days == 0:
        phase = "today"
    else:
        phase = "final week" if in_final_week(day, interview) else "before"
    left = unpractised(cards, states, day, interview, practised)
    left = sorted(left, key=lambda c: (-c.frequency, c.slug))
    return Countdown(
        interview,
        days,
        phase,
        week_start(interview),
        HIGH_FREQUENCY,
        len(high_frequency(cards)),
        [c.slug for c in left],
    )
