"""What the CLI's commands do, without the printing: wiring between the card bank, the
engine's rules (engine.plan, engine.schedule, engine.attempt) and the store.

Light functions (`today`, `catalog_rows`, `status`) read through engine.reader and import
nothing heavy; grading imports the runner only when it is needed.
"""

from __future__ import annotations

import re
from collections import Counter, namedtuple
from datetime import datetime, timedelta

from drills.errors import DrillError
from engine import paths
from engine.catalog import Card, CardError, load_catalog
from engine.clock import from_iso, iso, study_day
from engine.queue import CardInfo
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
    " new_limit saved",
)
Progress = namedtuple(
    "Progress", "id card title path started deadline used_s left_s checks best hints"
)


def _progress(attempts, catalog, now: datetime) -> list[Progress]:
    from engine.attempt import clock

    shown = []
    for a in attempts:
        started, deadline = from_iso(a["started_at"]), from_iso(a["deadline_at"])
        used, left = clock(started, deadline, now)
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

    def additions(items):
        return plan.additions(
            items,
            info,
            states,
            day,
            budget_minutes=budget,
            new_limit=new,
            passed=passed,
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
        except StoreError:
            saved = False  # a read-only data folder: shown, not kept
    items = items + added
    reviewed = Counter(r["card"] for r in db.reviews_on(day.isoformat()))
    opened = db.open_attempts()
    lines = plan.lines(items, info, reviewed, {a["card"] for a in opened})
    return Today(
        day,
        lines,
        _progress(opened, catalog, now),
        plan.later(info, states, day, passed, items),
        plan.waiting(info, states, day, passed),
        budget,
        sum(i.minutes for i in items),
        spent_minutes(db, day.isoformat()),
        new,
        saved,
    )


def status(now: datetime):
    """The attempts in progress, and today's plan."""
    return today(now)


def catalog_rows(now: datetime) -> list[dict]:
    from engine.schedule import label

    db = reader()
    day = study_day(now, setting(db.settings(), "rollover_hour"))
    states = db.states()
    open_cards = {a["card"] for a in db.open_attempts()}
    rows = []
    for c in cards().values():
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
            }
        )
    return rows


def grading_devices(c: Card) -> dict[str, str]:
    """Where a card grades, and how: a Triton card is interpreted on a CPU."""
    found = {d: "native" for d in c.devices}
    if c.interpret and "cpu" not in found:
        found["cpu"] = "triton interpreter"
    return found


# -- attempts ---------------------------------------------------------------------------------
Started = namedtuple("Started", "card path started deadline resumed")


def _describe(a, now: datetime) -> str:
    left = (from_iso(a["deadline_at"]) - now).total_seconds() / 60
    clock = f"{left:.0f} min left" if left >= 0 else f"{-left:.0f} min over"
    return f"`{a['card']}` (started {from_iso(a['started_at']).astimezone():%H:%M}, {clock})"


def start(
    slug: str | None,
    now: datetime,
    directory,
    restart: bool = False,
    also: bool = False,
) -> Started:
    from pathlib import Path

    from drills.render import render_blank
    from engine import plan

    day = today(now)  # fixes the day's plan if this is the day's first command
    db = store()
    opened = db.open_attempts()
    if slug is None:
        if opened and not restart:
            slug = opened[0]["card"]
        else:
            slug = plan.next_card(day.lines)
            if slug is None:
                raise DrillError(
                    "today's plan is done; `drill start SLUG` starts any card"
                )
    c = card(slug)
    current = next((a for a in opened if a["card"] == slug), None)
    if current is not None and not restart:
        return Started(
            c,
            Path(current["path"]),
            from_iso(current["started_at"]),
            from_iso(current["deadline_at"]),
            resumed=True,
        )
    others = [a for a in opened if a["card"] != slug]
    if others and not also:
        raise DrillError(
            f"an attempt at {_describe(others[0], now)} is open: finish it (`drill check`), "
            f"drop it (`drill abandon`), or add --also to work on both"
        )
    folder = Path(directory or paths.workspace_dir())
    if directory is None:
        folder.mkdir(parents=True, exist_ok=True)
    elif not folder.is_dir():
        raise DrillError(
            f"--dir {directory}: no such folder (create it, or leave out --dir)"
        )
    path = (folder / f"{slug}_{now.astimezone():%Y%m%d_%H%M%S}.py").resolve()
    deadline = now + timedelta(minutes=c.minutes)
    blank = render_blank(c, now.astimezone())
    rollover = setting(db.settings(), "rollover_hour")
    with db.transaction():  # the file is written inside it: both happen, or neither
        # a restart grades nothing: the old attempt ends unrecorded
        if current is not None:
            db.update(
                "attempts",
                {"id": current["id"]},
                {"ended_at": iso(now), "outcome": "restarted"},
                only_if="ended_at is null",
            )
        db.insert(
            "attempts",
            {
                "card": slug,
                "started_at": iso(now),
                "deadline_at": iso(deadline),
                "path": str(path),
                "day": study_day(now, rollover).isoformat(),
            },
        )
        try:
            path.write_text(blank, encoding="utf-8")
        except OSError as exc:
            raise DrillError(
                f"cannot write the blank file {path}: {exc.strerror}"
            ) from None
    from drills.grading import client

    client.start_in_background()  # warm while the user writes: the first check is fast too
    return Started(c, path, now, deadline, resumed=False)


def _open_attempt(db: Reader, slug: str | None, action: str):
    """The one open attempt an action applies to (at `slug` if given)."""
    opened = db.open_attempts()
    if slug:
        opened = [a for a in opened if a["card"] == slug]
    if not opened:
        at = f" at `{slug}`" if slug else ""
        raise DrillError(f"no attempt in progress{at} to {action}")
    if len(opened) > 1:
        names = ", ".join(f"`{a['card']}`" for a in opened)
        raise DrillError(
            f"attempts at {names} are open: say which (e.g. `drill {action} {opened[0]['card']}`)"
        )
    return opened[0]


_CARD_TAG = re.compile(r"\[drill: ([\w-]+)\]")


def _card_from_file(path) -> str | None:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return None
    match = _CARD_TAG.search(head)
    return match.group(1) if match else None


# attempt: the attempt row when the check belonged to one; review: the SM-2 step when the
# check ended the attempt; progress: the attempt's clock and checks after this one; late: the
# attempt had already ended (another check passed first), so this one changed nothing.
Checked = namedtuple(
    "Checked",
    "verdict attempt review quality elapsed_s progress late",
    defaults=(None, False),
)
Target = namedtuple("Target", "path card attempt db")


def target(path, slug: str | None, record: bool = True) -> Target:
    """What a check grades: the file, its card, and the open attempt it belongs to (if any)."""
    from pathlib import Path

    db = store() if record else reader()
    attempt = None
    if path is None:
        attempt = _open_attempt(db, slug, "check")
        path = Path(attempt["path"])
    else:
        path = Path(path).resolve()
        if record:
            attempt = next(
                (a for a in db.open_attempts() if Path(a["path"]) == path), None
            )
    if not path.is_file():
        raise DrillError(f"no file at {path}")
    slug = slug or (attempt["card"] if attempt else None) or _card_from_file(path)
    if slug is None:
        raise DrillError(f"which card is {path.name} for? add --card SLUG")
    if attempt is not None and attempt["card"] != slug:
        attempt = None
    return Target(path, card(slug), attempt, db)


def check(
    path, slug: str | None, now: datetime, record: bool = True, quality=None
) -> Checked:
    from drills.grading import grade

    t = target(path, slug, record)
    verdict = grade(t.card, t.path)
    return record_verdict(t, verdict, now, record, quality)


def record_verdict(
    t: Target, verdict: dict, now: datetime, record=True, quality=None
) -> Checked:
    """Log a verdict as a check of its attempt; a pass ends the attempt with a review. One
    transaction: of two checks of one attempt at once, only the first pass ends it."""
    import json

    from engine import attempt as rules

    if not record:
        return Checked(verdict, None, None, None, None)
    db = t.db
    with db.transaction():
        a = db.attempt(t.attempt["id"]) if t.attempt else None
        db.insert(
            "checks",
            {
                "attempt_id": a["id"] if a else None,
                "card": verdict["card"],
                "at": iso(now),
                "status": verdict["status"],
                "passed": verdict["passed"],
                "failed": verdict["failed"],
                "duration_s": verdict["duration_s"],
                "device": verdict["device"],
                "verdict": json.dumps(verdict),
            },
        )
        if a is None:
            return Checked(verdict, None, None, None, None)
        if a["ended_at"]:
            return Checked(verdict, dict(a), None, None, None, late=True)
        summary = rules.fold(
            rules.Summary(
                a["checks"], a["failed_checks"], a["best_passed"], a["best_total"]
            ),
            verdict["status"],
            verdict["passed"],
            verdict["failed"],
        )
        values = summary._asdict()
        review = q = None
        started = from_iso(a["started_at"])
        elapsed = (now - started).total_seconds()
        if verdict["status"] == "pass":
            measured = rules.passed_quality(
                summary, elapsed, t.card.minutes * 60, a["hints"]
            )
            q = measured if quality is None else quality
            source = "check" if quality is None else "override"
            review = _review(db, t.card.slug, q, started, now, source)
            values.update(ended_at=iso(now), outcome="pass", quality=q)
        db.update("attempts", {"id": a["id"]}, values, only_if="ended_at is null")
        a = db.attempt(a["id"])
    progress = _progress([a], {t.card.slug: t.card}, now)[0]
    return Checked(verdict, dict(a), review, q, elapsed, progress)


def _review(
    db, slug: str, quality: int, started: datetime, now: datetime, source: str
) -> dict:
    """Step the card's schedule (engine.schedule) and log the review; inside a transaction."""
    from engine.schedule import review_day, step

    day = review_day(started, setting(db.settings(), "rollover_hour"))
    state, review = step(db.state(slug), slug, quality, day)
    db.upsert("schedule", state._asdict(), "card")
    db.insert(
        "reviews",
        {
            **review._asdict(),
            "counted": int(review.counted),
            "at": iso(now),
            "source": source,
        },
    )
    return {**state._asdict(), "counted": review.counted, "kind": review.kind}


GaveUp = namedtuple("GaveUp", "card quality review reference")


def give_up(
    slug: str | None, now: datetime, quality=None, source="giveup", action="give up"
) -> GaveUp:
    """End the open attempt as a failure, with its measured quality (or `quality`)."""
    from engine import attempt as rules

    db = store()
    with db.transaction():
        a = _open_attempt(db, slug, action.replace(" ", ""))
        c = card(a["card"])
        summary = rules.Summary(
            a["checks"], a["failed_checks"], a["best_passed"], a["best_total"]
        )
        started = from_iso(a["started_at"])
        elapsed = (now - started).total_seconds()
        q = (
            rules.gave_up_quality(summary, elapsed, c.minutes * 60)
            if quality is None
            else quality
        )
        review = _review(
            db, c.slug, q, started, now, source if quality is None else "override"
        )
        db.update(
            "attempts",
            {"id": a["id"]},
            {"ended_at": iso(now), "outcome": "giveup", "quality": q},
            only_if="ended_at is null",
        )
    return GaveUp(c, q, review, (c.path / "reference.py").read_text(encoding="utf-8"))


def abandon(slug: str | None, now: datetime) -> str:
    """End the open attempt with no review: as if it had not been started."""
    db = store()
    with db.transaction():
        a = _open_attempt(db, slug, "abandon")
        db.update(
            "attempts",
            {"id": a["id"]},
            {"ended_at": iso(now), "outcome": "abandoned"},
            only_if="ended_at is null",
        )
    return a["card"]


Hint = namedtuple("Hint", "card level text cap gave_up")


def hint(slug: str | None, now: datetime) -> Hint:
    """The next hint for the open attempt; the last one is the reference, a give-up."""
    from engine.attempt import HINT_CAPS, REFERENCE_LEVEL

    db = store()
    with db.transaction():
        a = _open_attempt(db, slug, "hint")
        c = card(a["card"])
        level = a["hints"] + 1
        if level < REFERENCE_LEVEL:
            db.update(
                "attempts",
                {"id": a["id"]},
                {"hints": level},
                only_if="ended_at is null",
            )
    if level < REFERENCE_LEVEL:
        text = c.hints[level - 1] if len(c.hints) >= level else c.contract
        return Hint(c, level, text, HINT_CAPS[level], None)
    gave = give_up(c.slug, now, source="hint", action="hint")
    return Hint(c, level, gave.reference, None, gave)


def solution(slug: str, now: datetime) -> tuple[str, GaveUp | None]:
    """The reference; during an attempt at the card, seeing it ends that attempt as a give-up."""
    c = card(slug)
    db = reader()
    if any(a["card"] == slug for a in db.open_attempts()):
        gave = give_up(slug, now, source="solution", action="solution")
        return gave.reference, gave
    if not db.attempts_for(slug):
        raise DrillError(
            f"no attempt at `{slug}` yet: the solution opens after one (`drill start {slug}`)"
        )
    return (c.path / "reference.py").read_text(encoding="utf-8"), None


def set_config(key: str, value: str) -> None:
    if key not in LIMITS:
        raise DrillError(f"unknown setting {key!r}; settings: {', '.join(LIMITS)}")
    setting({key: value}, key)
    db = store()
    db.set_setting(key, value)


__all__ = ["CardError", "DrillError"]
