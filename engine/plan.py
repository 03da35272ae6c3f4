"""The day's plan: fixed at the first `drill today` or `drill start` of a study day, so that
what the morning showed is what `drill start` follows. Later in the day only these join, at
the end: a card failed today (its one repeat), a new card whose prerequisites were just met,
and more cards when the user asks for a bigger budget (`drill today --minutes N`). Nothing
planned moves or disappears; an item is done when its card has a review that day. Pure."""

from __future__ import annotations

from collections import Counter, namedtuple
from datetime import date

from engine.queue import CardInfo, fit

# A stored plan row.
Item = namedtuple("Item", "pos card kind minutes reason")
# An item as shown: status is "done" | "in progress" | "" (to do).
Line = namedtuple("Line", "pos card title kind minutes reason status")
NEW_KINDS = ("new", "unlocked")


def additions(
    stored: list[Item],
    cards: dict[str, CardInfo],
    states: dict,
    day: date,
    found: tuple,
    *,
    budget_minutes: int,
    new_limit: int,
    forced: list = (),
) -> list[Item]:
    """The items to append to `stored` now: the whole plan when nothing is stored yet.
    `found`: engine.queue.candidates for this day. `forced`: the final week's share before an
    interview (engine.interview.share): first in the plan, whatever the budget; it joins a
    stored plan once, if that plan has none (the date was set after the day's first look)."""
    due, new, _ = found
    introduced = sum(1 for s in states.values() if s.first_day == day.isoformat())
    pos = max((i.pos for i in stored), default=0)
    if any(i.kind == "interview" for i in stored):
        forced = []
    planned = {i.card for i in stored}
    forced = [e for e in forced if e.slug not in planned]
    pulled = {e.slug for e in forced}
    due = [e for e in due if e.slug not in pulled or e.kind == "again"]
    new = [e for e in new if e.slug not in pulled]
    forced_new = sum(1 for e in forced if e.slug not in states)
    if not stored:
        fits, _ = fit(
            due,
            new,
            minutes_left=budget_minutes - sum(e.minutes for e in forced),
            new_left=new_limit - introduced - forced_new,
            first=not forced,
        )
        return [
            Item(pos + n, e.slug, e.kind, e.minutes, e.reason)
            for n, e in enumerate([*forced, *fits], 1)
        ]
    repeats = {i.card for i in stored if i.kind == "again"}
    added = [e for e in due if e.kind == "again" and e.slug not in repeats]
    more_due = [e for e in due if e.kind != "again" and e.slug not in planned]
    more_new = [e for e in new if e.slug not in planned]
    new_planned = sum(
        1
        for i in stored
        if i.kind in NEW_KINDS or (i.kind == "interview" and i.card not in states)
    )
    fits, _ = fit(
        more_due,
        more_new,
        minutes_left=budget_minutes
        - sum(i.minutes for i in stored if i.kind != "again")
        - sum(e.minutes for e in forced),
        new_left=new_limit - max(new_planned, introduced) - forced_new,
        first=False,
    )
    for e in fits:
        joined = (
            "unlocked" if e.kind == "new" and cards[e.slug].prerequisites else e.kind
        )
        reason = (
            f"joined today: {e.reason}"
            if joined != "unlocked"
            else (
                f"unlocked today: prerequisites passed; {e.reason.removeprefix('new: ')}"
            )
        )
        added.append(e._replace(kind=joined, reason=reason))
    return [
        Item(pos + n, e.slug, e.kind, e.minutes, e.reason)
        for n, e in enumerate([*forced, *added], 1)
    ]


def lines(items: list[Item], cards: dict[str, CardInfo], reviewed: Counter, open_cards):
    """Each item with its status: the first n items of a card reviewed n times today are
    done; the next one of a card with an open attempt is in progress."""
    seen: Counter = Counter()
    shown = []
    for i in items:
        if i.card not in cards:  # a card since removed from the bank
            continue
        seen[i.card] += 1
        if seen[i.card] <= reviewed[i.card]:
            status = "done"
        elif i.card in open_cards and seen[i.card] == reviewed[i.card] + 1:
            status = "in progress"
        else:
            status = ""
        shown.append(
            Line(
                i.pos, i.card, cards[i.card].title, i.kind, i.minutes, i.reason, status
            )
        )
    return shown


def next_card(shown: list[Line]) -> str | None:
    return next((line.card for line in shown if line.status != "done"), None)


def later(found: tuple, items: list[Item]) -> list:
    """Due or new cards not in the plan (over the budget or the new-card limit)."""
    due, new, _ = found
    planned = {i.card for i in items}
    return [e for e in due + new if e.slug not in planned]
