"""The weak-topic report's figures: pure functions of the bank, the schedule and the logs.

A card counts in each of its topics (a card with no topics, in its track). Per topic:

- asked: the chance an interview asks at least one of the topic's cards, 1 - prod(1 - f), from
  the cards' interview frequencies f (treated as independent);
- strength (0..1): the frequency-weighted mean of its cards' strengths. A card never reviewed
  has strength 0; a reviewed one, the mean quality of its last RECENT reviews / 5 (SM-2's
  quality already counts slowness and hints), times a freshness factor interval /
  (interval + days overdue) that decays while the card waits past its due date;
- weakness (0..100): 100 * asked * (1 - strength): a topic that is asked often and that you
  are weak at comes first. Everything else (pass rate, ease, lapses, solve time) is shown for
  you to read, not folded into the score twice.

Nothing here reads the clock or the database: the caller passes rows and `today`. The
interview countdown is engine.interview's (the same as `drill today` shows).
"""

from __future__ import annotations

from collections import Counter, defaultdict, namedtuple
from datetime import date, datetime, timedelta
from statistics import median

RECENT = 3  # reviews that make a card's strength
WEAKEST = 3  # topics the report puts first, each with a command
FORECAST_DAYS = 30
HEATMAP_WEEKS = 53

# What the report needs of a card (engine.catalog.Card has all of it).
CardFacts = namedtuple("CardFacts", "slug title topics track frequency minutes")

Topic = namedtuple(
    "Topic",
    "topic cards practised attempts pass_rate mean_quality ease lapses median_solve_min"
    " median_target_min solve_vs_target overdue asked strength weakness weakest_card",
)
Solve = namedtuple("Solve", "day card minutes target ratio")


def topics_of(card) -> list[str]:
    return list(dict.fromkeys(card.topics)) or [card.track]


def days_overdue(state, today: date) -> int:
    return max(0, (today - date.fromisoformat(state.due)).days) if state else 0


def card_strength(qualities: list[int], state, today: date) -> float:
    """0 for a card never reviewed; else recent mean quality / 5 times freshness."""
    if not qualities or state is None:
        return 0.0
    recent = qualities[-RECENT:]
    overdue = days_overdue(state, today)
    interval = max(state.interval, 1)
    return sum(recent) / len(recent) / 5 * interval / (interval + overdue)


def solves(cards: dict, attempts) -> list[Solve]:
    """Passing attempts with their time used against the card's target, oldest first."""
    found = []
    for a in attempts:
        c = cards.get(a["card"])
        if c is None or a["outcome"] != "pass" or not a["ended_at"]:
            continue
        used = (
            datetime.fromisoformat(a["ended_at"])
            - datetime.fromisoformat(a["started_at"])
        ).total_seconds() / 60
        found.append(
            Solve(a["day"], c.slug, round(used, 1), c.minutes, used / c.minutes)
        )
    return sorted(found, key=lambda s: (s.day, s.card))


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _topic(name, members, states, qualities, solved, today) -> Topic:
    reviewed = [c for c in members if qualities[c.slug]]
    every = [q for c in members for q in qualities[c.slug]]
    times = [s for c in members for s in solved[c.slug]]
    weights = sum(c.frequency for c in members) or 1.0
    strength = (
        sum(
            c.frequency * card_strength(qualities[c.slug], states.get(c.slug), today)
            for c in members
        )
        / weights
    )
    not_asked = 1.0
    for c in members:
        not_asked *= 1 - min(max(c.frequency, 0.0), 1.0)
    asked = 1 - not_asked
    practised = [states[c.slug] for c in reviewed if c.slug in states]
    weakest = min(
        members,
        key=lambda c: (
            card_strength(qualities[c.slug], states.get(c.slug), today),
            -c.frequency,
            c.slug,
        ),
    )
    return Topic(
        topic=name,
        cards=len(members),
        practised=len(reviewed),
        attempts=len(every),
        pass_rate=_mean(q >= 3 for q in every),
        mean_quality=_mean(every),
        ease=_mean(s.ease_x100 / 100 for s in practised),
        lapses=sum(s.lapses for s in practised),
        median_solve_min=median(s.minutes for s in times) if times else None,
        median_target_min=median(s.target for s in times) if times else None,
        solve_vs_target=median(s.ratio for s in times) if times else None,
        overdue=sum(1 for s in practised if days_overdue(s, today) > 0),
        asked=asked,
        strength=strength,
        weakness=round(100 * asked * (1 - strength), 1),
        weakest_card=weakest.slug,
    )


CardRank = namedtuple("CardRank", "slug strength weakness due")


def weakest_cards(cards: dict, states: dict, reviews, today: date, n: int = 10):
    """The `n` cards with the highest frequency x (1 - strength), as topics score them."""
    qualities: dict[str, list[int]] = defaultdict(list)
    for r in sorted(reviews, key=lambda r: (r["at"], r["id"])):
        qualities[r["card"]].append(r["quality"])
    ranked = []
    for c in cards.values():
        s = states.get(c.slug)
        strength = card_strength(qualities[c.slug], s, today)
        weakness = round(100 * c.frequency * (1 - strength), 1)
        ranked.append(CardRank(c.slug, strength, weakness, s.due if s else None))
    return sorted(ranked, key=lambda r: (-r.weakness, r.slug))[:n]


def topics(cards: dict, states: dict, reviews, attempts, today: date) -> list[Topic]:
    """Every topic, weakest first (then by name)."""
    qualities: dict[str, list[int]] = defaultdict(list)
    for r in sorted(reviews, key=lambda r: (r["at"], r["id"])):
        qualities[r["card"]].append(r["quality"])
    solved: dict[str, list[Solve]] = defaultdict(list)
    for s in solves(cards, attempts):
        solved[s.card].append(s)
    members: dict[str, list] = defaultdict(list)
    for c in cards.values():
        for t in topics_of(c):
            members[t].append(c)
    rows = [
        _topic(t, sorted(m, key=lambda c: c.slug), states, qualities, solved, today)
        for t, m in members.items()
    ]
    return sorted(rows, key=lambda t: (-t.weakness, t.topic))


def daily_practice(reviews, today: date, weeks: int = HEATMAP_WEEKS) -> dict[str, int]:
    """Graded attempts per study day, for every day of the last `weeks` weeks (zeros too)."""
    counts = Counter(r["day"] for r in reviews)
    first = today - timedelta(days=weeks * 7 - 1)
    return {
        (first + timedelta(days=i)).isoformat(): counts.get(
            (first + timedelta(days=i)).isoformat(), 0
        )
        for i in range(weeks * 7)
    }


def forecast(
    cards: dict, states: dict, today: date, days: int = FORECAST_DAYS
) -> list[tuple[str, int, int]]:
    """(day, cards due, their target minutes) for the next `days` days from today, as the
    schedule stands: an overdue card counts today; reviews you do will move the rest."""
    load = {(today + timedelta(days=i)).isoformat(): [0, 0] for i in range(days)}
    for slug, s in states.items():
        if slug not in cards:
            continue
        day = max(s.due, today.isoformat())
        if day in load:
            load[day][0] += 1
            load[day][1] += cards[slug].minutes
    return [(d, n, m) for d, (n, m) in load.items()]


def summary(cards: dict, states: dict, reviews, today: date) -> dict:
    practised = {r["card"] for r in reviews if r["card"] in cards}
    return {
        "cards": len(cards),
        "practised": len(practised),
        "attempts": sum(1 for r in reviews if r["card"] in cards),
        "days_practised": len({r["day"] for r in reviews}),
        "overdue": sum(
            1 for k, s in states.items() if k in cards and days_overdue(s, today) > 0
        ),
    }
