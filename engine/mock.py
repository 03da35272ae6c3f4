"""A mock interview's rules: which problems make a realistic set, when the clock warns, and how
a session compares with earlier ones. Pure: the caller passes the cards, states, seed and time.

The set is drawn at random, without replacement, in proportion to a card's *weight*:

    weight = frequency x weakness

so the problems interviews ask most, and the ones the user is weakest at, come up most, whether
or not they are due. Weakness is BASE plus what the schedule knows: a low ease, a history of
lapses, being due or overdue; a card never reviewed counts as middling (UNSEEN). A card whose
topic is already in the set is drawn with a third of its weight, for a set that covers ground.
Without `--cards`, the set is as many problems as fit the session by their target minutes, at most
one per PER_PROBLEM_MIN minutes (45 minutes: up to 3), and always at least one."""

from __future__ import annotations

import random
from collections import namedtuple
from datetime import date

from engine.schedule import CardState

BASE = 0.25  # even the strongest card keeps a chance
UNSEEN = 1.0  # a card never reviewed: as weak as a middling one
DUE_BONUS = 0.5
SAME_TOPIC = (
    0.3  # a topic already in the set: its cards keep this share of their weight
)
PER_PROBLEM_MIN = 15
MIN_FREQUENCY = 0.02  # so a rare card is rare, not impossible
WARNINGS_S = (300, 60)  # the clock warns when this many seconds are left

Candidate = namedtuple("Candidate", "slug minutes topics weight")


def weakness(state: CardState | None, day: date) -> float:
    """How much practice a card needs, from its schedule: BASE .. about BASE + 2.5."""
    if state is None or state.reviews == 0:
        return BASE + UNSEEN
    ease = min(1.0, max(0.0, (250 - state.ease_x100) / 120))  # 0 at EF 2.5, 1 at 1.3
    lapse_rate = state.lapses / max(1, state.reviews)
    due = DUE_BONUS if state.due <= day.isoformat() else 0.0
    return BASE + ease + lapse_rate + due


def weight(frequency: float, state: CardState | None, day: date) -> float:
    return max(frequency, MIN_FREQUENCY) * weakness(state, day)


def default_count(minutes: int) -> int:
    return max(1, round(minutes / PER_PROBLEM_MIN))


def pick(
    pool: list[Candidate], minutes: int, count: int | None, rng: random.Random
) -> list[Candidate]:
    """Draw the set. With `count`, exactly that many (or all there are), whatever their
    targets add up to; without, as many as fit `minutes` (see the module's docstring)."""
    # the seed alone decides, not the bank's order
    left = sorted(pool, key=lambda c: c.slug)
    limit = count if count is not None else default_count(minutes)
    chosen: list[Candidate] = []
    used, topics = 0, set()
    while left and len(chosen) < limit:
        fits = (
            left
            if count is not None
            else [c for c in left if used + c.minutes <= minutes]
        )
        if not fits:
            if chosen:
                break
            # nothing fits: the shortest
            fits = [min(left, key=lambda c: (c.minutes, c.slug))]
        weights = [
            c.weight * (SAME_TOPIC if topics & set(c.topics) else 1) for c in fits
        ]
        c = rng.choices(fits, weights)[0]
        chosen.append(c)
        left.remove(c)
        used += c.minutes
        topics |= set(c.topics)
    return chosen


def crossed(before_s: float | None, now_s: float) -> list[int]:
    """The warnings due when the time left goes from `before_s` (None: the first look) to
    `now_s`; the caller words each with the time actually left. A first look (a session
    resumed late) warns once if it is already within a threshold."""
    if now_s <= 0:
        return []
    if before_s is None:
        within = [w for w in WARNINGS_S if now_s <= w]
        return [min(within)] if within else []
    return [w for w in WARNINGS_S if now_s <= w < before_s]


def mmss(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


Result = namedtuple("Result", "session card status passed total used_s day")


def compare(current: list[Result], earlier: list[Result]) -> dict:
    """This session against earlier ones: per card, its earlier results (oldest first); and
    per session, problems solved and the share of tests passed."""

    def totals(results):
        solved = sum(r.status == "pass" for r in results)
        tests = sum(r.total for r in results)
        share = sum(r.passed for r in results) / tests if tests else 0.0
        return {"problems": len(results), "solved": solved, "tests_share": share}

    sessions: dict[int, list[Result]] = {}
    for r in earlier:
        sessions.setdefault(r.session, []).append(r)
    past = [totals(rs) for _, rs in sorted(sessions.items())]
    by_card = {
        c: [r for r in earlier if r.card == c]
        for c in dict.fromkeys(r.card for r in current)
    }
    return {
        "this": totals(current),
        "earlier_sessions": len(past),
        "mean_solved_share": (
            sum(p["solved"] / p["problems"] for p in past) / len(past) if past else None
        ),
        "mean_tests_share": sum(p["tests_share"] for p in past) / len(past)
        if past
        else None,
        "best_tests_share": max((p["tests_share"] for p in past), default=None),
        "by_card": by_card,
    }
