"""`drill report`: gathers the bank, schedule and logs, asks engine.report for the figures,
and prints them (text or JSON). It imports nothing heavy: the HTML page's drawing is in
drills.report_html, imported only for `--html`."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime

from drills.app import cards, infos, interview_date, reader, setting, speed_cards
from engine import report as figures
from engine.clock import study_day

Report = namedtuple(
    "Report", "day summary topics daily forecast solves interview titles cards speeds"
)


def build(now: datetime) -> Report:
    db = reader()
    settings = db.settings()
    day = study_day(now, setting(settings, "rollover_hour"))
    bank = cards()
    catalog = {
        c.slug: figures.CardFacts(
            c.slug, c.title, tuple(c.topics), c.track, c.frequency, c.minutes
        )
        for c in bank.values()
    }
    states = {k: v for k, v in db.states().items() if k in catalog}
    reviews = [r for r in db.reviews() if r["card"] in catalog]
    attempts = db.ended_attempts()
    return Report(
        day,
        figures.summary(catalog, states, reviews, day),
        figures.topics(catalog, states, reviews, attempts, day),
        figures.daily_practice(reviews, day),
        figures.forecast(catalog, states, day),
        figures.solves(catalog, attempts),
        countdown(db, bank, states, day, interview_date(settings)),
        {slug: c.title for slug, c in catalog.items()},
        figures.weakest_cards(catalog, states, reviews, day),
        db.best_speeds(speed_cards(bank)),  # kernel cards' best, as `drill list` shows
    )


def countdown(db, bank, states, day, when):
    """engine.interview's countdown, as `drill today` computes it; None without a date."""
    if when is None:
        return None
    from engine import interview as final_week

    practised = set()
    if final_week.in_final_week(day, when):
        practised = db.reviewed_since(final_week.week_start(when).isoformat())
    return final_week.countdown(infos(bank), states, day, when, practised)


def check_html_path(path) -> None:
    """Say before any work that a page cannot be written there."""
    import os

    from drills.errors import DrillError

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DrillError(f"cannot write {path}: no folder {folder}; create it first")
    if os.path.isdir(path):
        raise DrillError(f"cannot write {path}: it is a folder; name a file")
    if not os.access(folder, os.W_OK):
        raise DrillError(f"cannot write {path}: the folder {folder} is read-only")


def command(topic) -> str:
    return f"drill start {topic.weakest_card}"


def as_json(r: Report) -> dict:
    return {
        "day": r.day.isoformat(),
        "summary": r.summary,
        "weakest": [
            {"topic": t.topic, "weakness": t.weakness, "command": command(t)}
            for t in r.topics[: figures.WEAKEST]
        ],
        "topics": [
            {**t._asdict(), "command": command(t)} for t in r.topics
        ],  # weakest first
        "weakest_cards": [
            {
                **c._asdict(),
                "title": r.titles[c.slug],
                "command": f"drill start {c.slug}",
            }
            for c in r.cards
        ],
        "forecast": [{"day": d, "cards": n, "minutes": m} for d, n, m in r.forecast],
        "interview": interview_json(r.interview),
        "kernel_speeds": r.speeds,  # {card: its fastest passing check's speed report}
    }


def _pct(x) -> str:
    return "-" if x is None else f"{round(100 * x)}%"


def _num(x, fmt=".1f") -> str:
    return "-" if x is None else format(x, fmt)


def _solve(t) -> str:
    if t.solve_vs_target is None:
        return "-"
    return (
        f"{t.median_solve_min:.0f}/{t.median_target_min:g}m ({t.solve_vs_target:.1f}x)"
    )


COLUMNS = (  # header, width, value
    ("topic", 22, lambda t: t.topic),
    ("asked", 5, lambda t: _pct(t.asked)),
    ("cards", 5, lambda t: f"{t.practised}/{t.cards}"),
    ("tries", 5, lambda t: str(t.attempts)),
    ("pass", 4, lambda t: _pct(t.pass_rate)),
    ("qual", 4, lambda t: _num(t.mean_quality)),
    ("ease", 4, lambda t: _num(t.ease, ".2f")),
    ("lapse", 5, lambda t: str(t.lapses)),
    ("solve/target", 16, _solve),
    ("late", 4, lambda t: str(t.overdue)),
    ("weak", 5, lambda t: f"{t.weakness:.0f}"),
)


def _row(values) -> str:
    cells = []
    for (head, width, _), v in zip(COLUMNS, values):
        v = v if len(v) <= width else v[: width - 1] + "…"
        cells.append(v.ljust(width) if head == "topic" else v.rjust(width))
    return "  ".join(cells).rstrip()


SHOWN = 15  # topics in the text table, weakest first (--all: every one)


def lines(r: Report, limit: int | None = SHOWN) -> list[str]:
    s = r.summary
    head = (
        f"Weak-topic report, {r.day}: {s['practised']} of {s['cards']} cards practised, "
        f"{s['attempts']} graded attempts on {s['days_practised']} days; "
        f"{s['overdue']} card{'s' * (s['overdue'] != 1)} overdue."
    )
    out = [head]
    if r.interview:
        out.append(interview_line(r.interview))
    out += ["", "Weakest topics (most asked and least mastered first):"]
    for i, t in enumerate(r.topics[: figures.WEAKEST], 1):
        out.append(
            f"  {i}. {t.topic}: weakness {t.weakness:.0f}/100 (asked in {_pct(t.asked)} of "
            f"interviews, strength {_pct(t.strength)}) -> {command(t)}"
        )
    out += ["", _row([c[0] for c in COLUMNS])]
    shown = r.topics if limit is None else r.topics[:limit]
    out += [_row([c[2](t) for c in COLUMNS]) for t in shown]
    if len(shown) < len(r.topics):
        out.append(
            f"... and {len(r.topics) - len(shown)} more topics (`drill report --all`)"
        )
    if r.speeds:
        from drills.grading.verdict import speed_line

        out += ["", "Kernel cards, best pass on a GPU:"]
        out += [f"  {slug}: {speed_line(s)}" for slug, s in sorted(r.speeds.items())]
    out += ["", LEGEND]
    return out


LEGEND = (
    "asked: chance an interview asks the topic; cards: practised/all; pass: share of "
    "attempts graded 3+; qual: mean SM-2 quality; solve/target: median minutes of "
    "passing attempts against the cards' targets; late: overdue cards; weak: "
    "asked x (1 - strength), 0-100 (README: The weak-topic report)."
)


def interview_json(c) -> dict | None:
    if c is None:
        return None
    return {
        "date": c.date.isoformat(),
        "days_left": c.days_left,
        "phase": c.phase,  # "before" | "final week" | "today" | "past"
        "final_week_starts": c.week_starts.isoformat(),
        "high_frequency_threshold": c.threshold,
        "high_frequency_cards": c.high,
        "unpractised": c.unpractised,  # most asked first
    }


def interview_line(c) -> str:
    """Days left and the high-frequency cards still to practise (engine.interview's rule)."""
    if c.phase == "past":
        return f"The interview date {c.date} has passed (`drill config interview_date --clear`)."
    if c.phase == "today":
        return f"Interview today ({c.date})."
    head = f"Interview on {c.date}: {c.days_left} day{'s' * (c.days_left != 1)} left"
    when = "this week" if c.phase == "final week" else "yet"
    if not c.unpractised:
        return f"{head}; all {c.high} high-frequency cards practised {when}."
    names = ", ".join(c.unpractised[:6]) + (", ..." if len(c.unpractised) > 6 else "")
    return (
        f"{head}; {len(c.unpractised)} of {c.high} high-frequency cards (asked in >= "
        f"{c.threshold:.0%} of interviews) not practised {when}, most asked first: {names}."
    )
