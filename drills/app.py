"""What the CLI's commands do, without the printing: queue, attempts, checks, reviews.

Light functions (`today`, `catalog_rows`) read through engine.reader and import nothing heavy;
grading imports the runner only when it is needed.
"""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import datetime, timedelta

from drills.errors import DrillError
from engine import paths
from engine.catalog import Card, CardError, load_catalog
from engine.clock import from_iso, study_day
from engine.queue import CardInfo, Today, build_today
from engine.reader import Reader, open_reader


def cards() -> dict[str, Card]:
    """The bank; a broken card folder is skipped with a warning on stderr, not fatal."""
    errors: list[str] = []
    catalog = load_catalog(errors=errors)
    if errors:
        import sys

        for message in errors:
            print(f"warning: skipping {message}", file=sys.stderr)
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


def _settings_int(values: dict[str, str], key: str) -> int:
    try:
        return int(values[key])
    except ValueError:
        raise DrillError(
            f"setting {key} is {values[key]!r}, not a whole number: `drill config {key} N`"
        ) from None


def today(now: datetime, budget: int | None = None, new: int | None = None) -> Today:
    db = reader()
    settings = db.settings()
    rollover = _settings_int(settings, "rollover_hour")
    day = study_day(now, rollover)
    catalog = cards()
    infos = [
        CardInfo(c.slug, c.title, c.frequency, c.minutes, c.prerequisites)
        for c in catalog.values()
    ]
    return build_today(
        infos,
        {k: v for k, v in db.states().items() if k in catalog},
        day,
        budget_minutes=_settings_int(settings, "budget_minutes")
        if budget is None
        else budget,
        new_limit=_settings_int(settings, "new_per_day") if new is None else new,
        passed=db.passed_cards(),
        in_progress=[a["card"] for a in db.open_attempts()],
        reviewed_today=[r["card"] for r in db.reviews_on(day.isoformat())],
    )


def catalog_rows(now: datetime) -> list[dict]:
    db = reader()
    rollover = _settings_int(db.settings(), "rollover_hour")
    day = study_day(now, rollover).isoformat()
    states = db.states()
    open_cards = {a["card"] for a in db.open_attempts()}
    rows = []
    for c in cards().values():
        s = states.get(c.slug)
        if c.slug in open_cards:
            state = "in progress"
        elif s is None:
            state = "new"
        elif s.again_on == day or s.due <= day:
            state = "due"
        else:
            state = "learning" if s.repetitions < 3 else "review"
        rows.append(
            {
                "slug": c.slug,
                "title": c.title,
                "track": c.track,
                "frequency": c.frequency,
                "minutes": c.minutes,
                "difficulty": c.difficulty,
                "state": state,
                "due": s.due if s else None,
                "interval": s.interval if s else None,
                "ease": s.easiness if s else None,
                "reviews": s.reviews if s else 0,
                "devices": c.devices,
            }
        )
    return rows


# -- attempts ---------------------------------------------------------------------------------
Started = namedtuple("Started", "card path started deadline resumed")


def _open_attempt_for(db: Reader, slug: str):
    return next((a for a in db.open_attempts() if a["card"] == slug), None)


def start(slug: str | None, now: datetime, directory, restart: bool = False) -> Started:
    from pathlib import Path

    from drills.render import render_blank

    if slug is None:
        queue = today(now)
        if not queue.entries:
            raise DrillError("nothing is due today; `drill start SLUG` starts any card")
        slug = queue.entries[0].slug
    c = card(slug)
    db = store()
    current = _open_attempt_for(db, slug)
    if current is not None and not restart:
        started, deadline = (
            from_iso(current["started_at"]),
            from_iso(current["deadline_at"]),
        )
        return Started(c, Path(current["path"]), started, deadline, resumed=True)
    if current is not None:  # a restart grades nothing: the old attempt ends unrecorded
        db.end_attempt(current["id"], "restarted", None, now)
    directory = Path(directory or paths.workspace_dir())
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"{slug}_{now.astimezone():%Y%m%d_%H%M%S}.py").resolve()
    deadline = now + timedelta(minutes=c.minutes)
    path.write_text(render_blank(c, now.astimezone()), encoding="utf-8")
    db.start_attempt(slug, path, now, deadline)
    from drills.grading import client

    client.start_in_background()  # warm while the user writes: the first check is fast too
    return Started(c, path, now, deadline, resumed=False)


_CARD_TAG = re.compile(r"\[drill: ([\w-]+)\]")


def _card_from_file(path) -> str | None:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return None
    match = _CARD_TAG.search(head)
    return match.group(1) if match else None


# attempt: the attempt row when the check belonged to one; review: the SM-2 step when the
# check ended the attempt.
Checked = namedtuple("Checked", "verdict attempt review quality elapsed_s")


Target = namedtuple("Target", "path card attempt")


def target(path, slug: str | None, record: bool = True) -> Target:
    """What a check grades: the file, its card, and the open attempt it belongs to (if any)."""
    from pathlib import Path

    db = reader()
    attempt = None
    if path is None:
        opened = db.open_attempts()
        if slug:
            opened = [a for a in opened if a["card"] == slug]
        if not opened:
            raise DrillError(
                "no attempt in progress: `drill start` begins one, or give a PATH to check"
            )
        attempt = opened[0]
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
    return Target(path, card(slug), attempt)


def check(
    path,
    slug: str | None,
    now: datetime,
    record: bool = True,
    quality: int | None = None,
) -> Checked:
    from drills.grading import grade

    t = target(path, slug, record)
    verdict = grade(t.card, t.path)
    return record_verdict(t, verdict, now, record, quality)


def record_verdict(
    t: Target, verdict: dict, now: datetime, record: bool = True, quality=None
) -> Checked:
    """Log a verdict as a check of its attempt; a pass ends the attempt with a review."""
    if not record:
        return Checked(verdict, None, None, None, None)
    return _record(t.card, verdict, t.attempt, now, quality)


def _record(
    c: Card, verdict: dict, attempt, now: datetime, quality: int | None
) -> Checked:
    from engine.quality import Outcome, quality_of

    db = store()
    attempt_id = attempt["id"] if attempt else None
    db.record_check(attempt_id, verdict, now)
    if attempt is None or verdict["status"] != "pass":
        return Checked(verdict, dict(attempt) if attempt else None, None, None, None)
    earlier = db.checks_for(attempt_id)[:-1]
    elapsed = (now - from_iso(attempt["started_at"])).total_seconds()
    measured = quality_of(Outcome(True, len(earlier), elapsed, c.minutes * 60, 1.0))
    q = measured if quality is None else quality
    review = _review(db, c.slug, q, now, "check" if quality is None else "override")
    db.end_attempt(attempt_id, "pass", q, now)
    return Checked(verdict, dict(attempt), review, q, elapsed)


def _review(db, slug: str, quality: int, now: datetime, source: str) -> dict:
    if not 0 <= quality <= 5:
        raise DrillError(f"--quality must be 0..5, got {quality}")
    return db.review(
        slug, quality, now, _settings_int(db.settings(), "rollover_hour"), source
    )


GaveUp = namedtuple("GaveUp", "card quality review reference")


def give_up(slug: str | None, now: datetime, quality: int | None = None) -> GaveUp:
    from engine.quality import Outcome, quality_of

    db = store()
    opened = db.open_attempts()
    if slug:
        opened = [a for a in opened if a["card"] == slug]
    if not opened:
        raise DrillError("no attempt in progress to give up")
    attempt = opened[0]
    c = card(attempt["card"])
    checks = db.checks_for(attempt["id"])
    best = max(
        (
            k["passed"] / max(1, k["passed"] + k["failed"])
            for k in checks
            if k["status"] in ("pass", "fail")
        ),
        default=0.0,
    )
    elapsed = (now - from_iso(attempt["started_at"])).total_seconds()
    measured = quality_of(Outcome(False, len(checks), elapsed, c.minutes * 60, best))
    q = measured if quality is None else quality
    review = _review(db, c.slug, q, now, "giveup" if quality is None else "override")
    db.end_attempt(attempt["id"], "giveup", q, now)
    return GaveUp(c, q, review, (c.path / "reference.py").read_text(encoding="utf-8"))


def solution(slug: str) -> str:
    c = card(slug)
    db = reader()
    if not db.attempts_for(slug):
        raise DrillError(
            f"no attempt at `{slug}` yet: the solution opens after one (`drill start {slug}`)"
        )
    return (c.path / "reference.py").read_text(encoding="utf-8")


def set_config(key: str, value: str) -> None:
    from engine.reader import DEFAULT_SETTINGS

    if key not in DEFAULT_SETTINGS:
        raise DrillError(
            f"unknown setting {key!r}; settings: {', '.join(DEFAULT_SETTINGS)}"
        )
    if not value.isdigit() or (key == "rollover_hour" and int(value) > 23):
        raise DrillError(
            f"{key} must be a whole number{' 0..23' if key == 'rollover_hour' else ''}"
        )
    store().set_setting(key, value)


__all__ = ["CardError", "DrillError"]
