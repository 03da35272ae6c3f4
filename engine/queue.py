"""Today's queue: due cards by frequency x overdueness, then new cards by frequency with their
prerequisites met, within the day's budget of minutes and new cards. Pure: everything it needs
is passed in."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from engine.reader import CardState


class CardInfo(NamedTuple):
    slug: str
    title: str
    frequency: float
    minutes: int
    prerequisites: tuple[str, ...] = ()


class Entry(NamedTuple):
    slug: str
    title: str
    kind: str  # "in progress" | "again" | "due" | "new"
    minutes: int
    priority: float
    reason: str


class Today(NamedTuple):
    day: date
    entries: list[Entry]  # what fits today, in order
    later: list[Entry]  # due or new, but over today's budget or new-card limit
    budget_minutes: int
    spent_minutes: int  # target minutes of the cards already reviewed today
    new_limit: int
    new_today: int


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
