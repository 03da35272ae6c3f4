"""What the light commands do, without the printing: the card bank, settings, the day's plan
(engine.plan), `drill list` and `drill status`. Attempts are in drills.attempts.

Everything here reads through engine.reader and imports nothing heavy.
"""

from __future__ import annotations

from collections import Counter, namedtuple
from datetime import datetime

from drills.errors import DrillError
from engine import paths
from engine.catalog import Card, CardError, load_catalog
from engine.clock import from_iso, iso, study_day
from engine.queue import CardInfo, candidates
from engine.reader import Reader, StoreError, open_reader

LIMITS = {  # setting -> (lowest, highest, what it is)
    "budget_minutes": (1, 1440, "minutes of drills a day"),
    "new_per_day": (0, 50, "new cards a day"),
    "rollover_hour": (0, 12, "the hour a study day starts"),
}


def cards() -> dict[str, Card]:
    """The bank; a broken card folder is skipped with a warning on stderr, not fatal."""
    errors: list[str] = []
    catalog = load_catalog(errors=errors)
    if errors:
        import sys

        for message in errors:
            print(f"warning: skipping {message}", file=sys.stderr)
    if not catalog:
        from engine.catalog import cards_root

        raise DrillError(
            f"the card bank at {cards_root()} holds no cards (DRILL_CARDS?)"
        )
    return catalog


def card(slug: str) -> Card:
    catalog = cards()
    if slug not in catalog:
        import difflib

        close = [s for s in catalog if slug in s or s in slug]
        close += [
            s
            for s in difflib.get_close_matches(slug, catalog, 3, 0.5)
            if s not in close
        ]
        hint = (
            f" (did you mean {', '.join(close)}?)"
            if close
            else " (`drill list` shows them)"
        )
        raise DrillError(f"no card named `{slug}`{hint}")
    return catalog[slug]


def reader() -> Reader:
    """The light read path; creates or migrates the database only when it must."""
    found = open_reader(paths.db_path())
    return found if found is not None else store()


def store():
    from engine.store import Store

    return Store(paths.db_path())


def setting(values: dict[str, str], key: str) -> int:
    low, high, what = LIMITS[key]
    value = values[key]
    if not value.isdigit() or not low <= int(value) <= high:
        raise DrillError(
            f"setting {key} is {value!r}: {what}, a whole number {low}..{high} "
            f"(`drill config {key} N`)"
        )
    return int(value)


def infos(catalog: dict[str, Card]) -> dict[str, CardInfo]:
    return {
        c.slug: CardInfo(
            c.slug,
            c.title,
            c.frequency,
            c.minutes,
            tuple(c.prerequisites),
            c.frequency_source.startswith("estimate"),
        )
        for c in catalog.values()
    }


# -- the day -----------------------------------------------------------------------------------
Today = namedtuple(
    "Today",
    "day lines in_progress later waiting budget_minutes planned_minutes spent_minutes"
    " new_limit saved"  # saved: True, or why the plan could not be kept
    " interview",  # an engine.interview.Countdown, or None when no date is set
    defaults=(None,),
)
Progress = namedtuple(
    "Progress", "id card title path started deadline used_s left_s checks best hints"
)


def _progress(attempts, catalog, now: datetime) -> list[Progress]:
    shown = []
    for a in attempts:
        started, deadline = from_iso(a["started_at"]), from_iso(a["deadline_at"])
        used = (now - started).total_seconds()
        left = (deadline - now).total_seconds()  # negative when over the target
        title = catalog[a["card"]].title if a["card"] in catalog else a["card"]
        best = (a["best_passed"], a["best_total"])
        shown.append(
            Progress(
                a["id"],
                a["card"],
                title,
                a["path"],
                started,
                deadline,
                used,
                left,
                a["checks"],
                best,
                a["hints"],
            )
        )
    return shown


def spent_minutes(db: Reader, day: str) -> int:
    """Minutes actually spent on attempts started this study day and ended."""
    seconds = sum(
        (from_iso(a["ended_at"]) - from_iso(a["started_at"])).total_seconds()
        for a in db.attempts_on(day)
        if a["ended_at"]
    )
    return round(seconds / 60)


def today(now: datetime, budget: int | None = None, new: int | None = None) -> Today:
    """The day's plan, fixed at its first call of the study day (see engine.plan)."""
    from engine import plan

    db = reader()
    settings = db.settings()
    day = study_day(now, setting(settings, "rollover_hour"))
    budget = setting(settings, "budget_minutes") if budget is None else budget
    new = setting(settings, "new_per_day") if new is None else new
    catalog = cards()
    info = infos(catalog)
    states = {k: v for k, v in db.states().items() if k in catalog}
    passed = db.passed_cards()

    def stored(source: Reader) -> list:
        return [
            plan.Item(r["pos"], r["card"], r["kind"], r["minutes"], r["reason"])
            for r in source.plan(day.isoformat())
        ]

    found = candidates(list(info.values()), states, day, passed)
    interview, practised, forced = interview_date(settings), set(), []
    if interview:
        from engine import interview as final_week

        if final_week.in_final_week(day, interview):
            practised = db.reviewed_since(final_week.week_start(interview).isoformat())
            forced = final_week.share(info, states, day, interview, practised, passed)

    def additions(items):
        return plan.additions(
            items,
            info,
            states,
            day,
            found,
            budget_minutes=budget,
            new_limit=new,
            forced=forced,
        )

    items = stored(db)
    added, saved = additions(items), True
    if added:
        try:
            writer = store()
            with writer.transaction():
                items = stored(writer)  # as another drill may have just fixed it
                added = additions(items)
                for i in added:
                    writer.insert(
                        "plans",
                        {**i._asdict(), "day": day.isoformat(), "added_at": iso(now)},
                    )
        except StoreError as exc:
            saved = str(exc)  # e.g. a read-only data folder: shown, not kept
    items = items + added
    reviewed = Counter(r["card"] for r in db.reviews_on(day.isoformat()))
    opened = db.open_attempts()
    lines = plan.lines(items, info, reviewed, {a["card"] for a in opened})
    return Today(
        day,
        lines,
        _progress(opened, catalog, now),
        plan.later(found, items),
        found[2],  # new cards waiting on prerequisites
        budget,
        sum(i.minutes for i in items),
        spent_minutes(db, day.isoformat()),
        new,
        saved,
        final_week.countdown(info, states, day, interview, practised)
        if interview
        else None,
    )


def catalog_rows(now: datetime) -> list[dict]:
    from engine.schedule import label

    db = reader()
    day = study_day(now, setting(db.settings(), "rollover_hour"))
    states = db.states()
    open_cards = {a["card"] for a in db.open_attempts()}
    bank = cards()
    speeds = db.best_speeds(speed_cards(bank))
    rows = []
    for c in bank.values():
        s = states.get(c.slug)
        state = label(s, day, c.slug in open_cards)
        rows.append(
            {
                "slug": c.slug,
                "title": c.title,
                "track": c.track,
                "frequency": c.frequency,
                "frequency_estimated": c.frequency_source.startswith("estimate"),
                "minutes": c.minutes,
                "difficulty": c.difficulty,
                "state": state,
                "due": s.due if s else None,
                "interval": s.interval if s else None,
                "ease": s.easiness if s else None,
                "reviews": s.reviews if s else 0,
                "devices": grading_devices(c),
                "prerequisites": c.prerequisites,
                "speed": speeds.get(c.slug),
            }
        )
    return rows


def speed_cards(bank: dict[str, Card]) -> list[str]:
    """The cards whose passes carry a speed: kernel cards (Triton: `interpret`) and any card
    with a speed bar."""
    return [c.slug for c in bank.values() if c.interpret or c.min_speedup]


def grading_devices(c: Card) -> dict[str, str]:
    """Where a card grades, and how: a Triton card is interpreted on a CPU."""
    found = {d: "native" for d in c.devices}
    if c.interpret and "cpu" not in found:
        found["cpu"] = "triton interpreter"
    return found


DATES = {"interview_date": "the day of your interview"}  # settings that hold a date


def interview_date(settings: dict[str, str]):
    """The interview date setting (a date), or None when it is not set."""
    from engine.interview import KEY, parse_date

    value = settings.get(KEY)
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise DrillError(
            f"setting {KEY} is {value!r}: a date YYYY-MM-DD "
            f"(`drill config {KEY} YYYY-MM-DD`, or `--clear`)"
        ) from None


def check_key(key: str) -> None:
    if key not in LIMITS and key not in DATES:
        raise DrillError(
            f"unknown setting {key!r}; settings: {', '.join([*LIMITS, *DATES])}"
        )


def set_config(key: str, value: str, now: datetime | None = None) -> None:
    check_key(key)
    if key in DATES:
        from engine.clock import now as clock_now
        from engine.interview import check_date

        when = now or clock_now()
        day = study_day(when, setting(reader().settings(), "rollover_hour"))
        value = check_date(value, day).isoformat()
    else:
        setting({key: value}, key)
    db = store()
    db.set_setting(key, value)


def clear_config(key: str) -> bool:
    """Remove a setting (back to its default); False if it was not set."""
    check_key(key)
    return store().delete_setting(key)


def setting_note(key: str, value: str, now: datetime) -> str:
    """A few words after a setting in `drill config` (the interview's countdown)."""
    if key not in DATES:
        return ""
    from engine.interview import HIGH_FREQUENCY, week_start

    when = interview_date({key: value})
    day = study_day(now, setting(reader().settings(), "rollover_hour"))
    days = (when - day).days
    if days < 0:
        return " (past: `drill config interview_date --clear`)"
    if days == 0:
        return " (today)"
    from datetime import timedelta

    starts, last = max(week_start(when), day), when - timedelta(days=1)
    return (
        f" (in {days} day{'s' * (days != 1)}; the final week, {starts:%a %d %b} to "
        f"{last:%a %d %b}, practises every card asked in >= {HIGH_FREQUENCY:.0%} of "
        "interviews)"
    )


__all__ = ["CardError", "DrillError"]
