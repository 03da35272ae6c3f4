"""Today's queue: due cards by frequency x overdueness, then new cards by frequency with their
prerequisites met, within the day's budget of minutes and new cards. Pure: everything it needs
is passed in."""

from __future__ import annotations

from collections import namedtuple
from datetime import date

from engine.reader import CardState

# What the queue needs of a card; prerequisites default to none.
CardInfo = namedtuple(
    "CardInfo", "slug title frequency minutes prerequisites", defaults=((),)
)

# One line of the queue; kind is "in progress" | "again" | "due" | "new".
Entry = namedtuple("Entry", "slug title kind minutes priority reason")

# The day's plan: `entries` fit today in order; `later` are due or new but over the budget
# or the new-card limit; `spent_minutes` are the target minutes of cards already done today.
Today = namedtuple(
    "Today", "day entries later budget_minutes spent_minutes new_limit new_today"
)


def _pct(frequency: float) -> str:
    return f"asked in ~{round(frequency * 100)}% of interviews"


def due_entry(card: CardInfo, state: CardState, day: date) -> Entry | None:
    if state.again_on == day.isoformat():
        return Entry(
            card.slug,
            card.title,
            "again",
            card.minutes,
            card.frequency * 2,
            f"graded below 4 today: once more until it sticks; {_pct(card.frequency)}",
        )
    due = date.fromisoformat(state.due)
    if due > day:
        return None
    overdue = (day - due).days
    priority = card.frequency * (1 + overdue / max(state.interval, 1))
    when = (
        "due today" if overdue == 0 else f"{overdue} day{'s' * (overdue != 1)} overdue"
    )
    reason = f"{when} (interval {state.interval} d, ease {state.ease_x100 / 100:.2f}); {_pct(card.frequency)}"
    return Entry(card.slug, card.title, "due", card.minutes, priority, reason)


def build_today(
    cards: list[CardInfo],
    states: dict[str, CardState],
    day: date,
    *,
    budget_minutes: int,
    new_limit: int,
    passed: set[str] = frozenset(),
    in_progress: list[str] = (),
    reviewed_today: list[str] = (),
) -> Today:
    """`passed`: cards passed at least once (a new card waits until its prerequisites are)."""
    by_slug = {c.slug: c for c in cards}
    spent = sum(by_slug[s].minutes for s in set(reviewed_today) if s in by_slug)
    new_today = sum(1 for s in states.values() if s.first_day == day.isoformat())
    new_today += sum(1 for s in set(in_progress) if s not in states)

    entries = [
        Entry(
            s,
            by_slug[s].title,
            "in progress",
            by_slug[s].minutes,
            float("inf"),
            "started, not finished",
        )
        for s in dict.fromkeys(in_progress)
        if s in by_slug
    ]
    busy = {e.slug for e in entries}
    due = [
        due_entry(c, states[c.slug], day)
        for c in cards
        if c.slug in states and c.slug not in busy
    ]
    due = sorted((e for e in due if e), key=lambda e: (-e.priority, e.slug))

    new = []
    for c in sorted(cards, key=lambda c: (-c.frequency, c.minutes, c.slug)):
        if c.slug in states or c.slug in busy:
            continue
        waiting = [p for p in c.prerequisites if p not in passed]
        if waiting:
            continue
        after = f"; builds on {', '.join(c.prerequisites)}" if c.prerequisites else ""
        new.append(
            Entry(
                c.slug,
                c.title,
                "new",
                c.minutes,
                c.frequency,
                f"new: {_pct(c.frequency)}{after}",
            )
        )

    used = spent + sum(e.minutes for e in entries)
    fits, later = list(entries), []
    for e in due:
        if used + e.minutes <= budget_minutes or not fits:
            fits.append(e)
            used += e.minutes
        else:
            later.append(e)
    room = max(0, new_limit - new_today)
    for e in new:
        if room and used + e.minutes <= budget_minutes:
            fits.append(e)
            used += e.minutes
            room -= 1
        else:
            later.append(e)
    return Today(day, fits, later, budget_minutes, spent, new_limit, new_today)
