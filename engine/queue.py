"""Which cards are candidates today, and which fit: due cards by frequency x overdueness, then
new cards by frequency with their prerequisites met, within a budget of minutes and new cards.
Pure: everything it needs is passed in."""

from __future__ import annotations

from collections import namedtuple
from datetime import date

from engine.schedule import CardState

# What the queue needs of a card; prerequisites default to none. `estimated`: the frequency
# is an estimate, not a published figure.
CardInfo = namedtuple(
    "CardInfo",
    "slug title frequency minutes prerequisites estimated",
    defaults=((), False),
)

# One candidate; kind is "again" | "due" | "new".
Entry = namedtuple("Entry", "slug title kind minutes priority reason")


def asked(card: CardInfo) -> str:
    est = "est. " if card.estimated else ""
    return f"asked in {est}~{round(card.frequency * 100)}% of interviews"


def due_entry(card: CardInfo, state: CardState, day: date) -> Entry | None:
    if state.repeat_pending(day):
        return Entry(
            card.slug,
            card.title,
            "again",
            card.minutes,
            card.frequency * 2,
            f"failed earlier today: once more after the reference; {asked(card)}",
        )
    due = date.fromisoformat(state.due)
    if due > day or state.last_review == day.isoformat():
        return None
    overdue = (day - due).days
    priority = card.frequency * (1 + overdue / max(state.interval, 1))
    when = (
        "due today" if overdue == 0 else f"{overdue} day{'s' * (overdue != 1)} overdue"
    )
    reason = (
        f"{when} (interval {state.interval} d, ease {state.ease_x100 / 100:.2f}); "
        f"{asked(card)}"
    )
    return Entry(card.slug, card.title, "due", card.minutes, priority, reason)


def candidates(cards: list[CardInfo], states: dict[str, CardState], day: date, passed):
    """(due entries, new entries, waiting): due and repeats by priority; new cards by
    frequency; waiting maps a new card to the prerequisites it still needs."""
    due = [due_entry(c, states[c.slug], day) for c in cards if c.slug in states]
    due = sorted((e for e in due if e), key=lambda e: (-e.priority, e.slug))
    new, waiting = [], {}
    for c in sorted(cards, key=lambda c: (-c.frequency, c.minutes, c.slug)):
        if c.slug in states:
            continue
        missing = [p for p in c.prerequisites if p not in passed]
        if missing:
            waiting[c.slug] = missing
            continue
        after = f"; builds on {', '.join(c.prerequisites)}" if c.prerequisites else ""
        new.append(
            Entry(
                c.slug,
                c.title,
                "new",
                c.minutes,
                c.frequency,
                f"new: {asked(c)}{after}",
            )
        )
    return due, new, waiting


def fit(
    due: list[Entry], new: list[Entry], *, minutes_left: int, new_left: int, first=True
):
    """(entries that fit, the rest). Due cards first; with `first`, the first due card fits
    even when it alone is over the budget."""
    fits, later, used = [], [], 0
    for e in due:
        if used + e.minutes <= minutes_left or (first and not fits):
            fits.append(e)
            used += e.minutes
        else:
            later.append(e)
    for e in new:
        if new_left > 0 and used + e.minutes <= minutes_left:
            fits.append(e)
            used += e.minutes
            new_left -= 1
        else:
            later.append(e)
    return fits, later
