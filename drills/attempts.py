"""What the attempt commands do, without the printing: start, check, give up, abandon, hint,
solution. Wiring only: the rules are engine.attempt and engine.schedule, and each action is
one transaction of the store."""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import datetime, timedelta

from drills.app import _progress, card, reader, setting, store, today
from drills.errors import DrillError
from engine import paths
from engine.clock import from_iso, iso, study_day
from engine.reader import Reader

Started = namedtuple("Started", "card path started deadline resumed")


def _describe(a, now: datetime) -> str:
    from drills.output import clock

    left = (from_iso(a["deadline_at"]) - now).total_seconds()
    return f"`{a['card']}` (started {from_iso(a['started_at']).astimezone():%H:%M}, {clock(left)})"


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
        if opened:  # resume (or with --restart, start over) the open attempt
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
        again = next((a for a in db.open_attempts() if a["card"] == slug), None)
        if again is not None and (current is None or again["id"] != current["id"]):
            raise DrillError(  # another `drill start` of this card just won the race
                f"an attempt at `{slug}` was just started elsewhere: `drill start {slug}` resumes it"
            )
        # a restart grades nothing: the old attempt ends unrecorded
        if current is not None:
            db.update_open_attempt(
                current["id"], {"ended_at": iso(now), "outcome": "restarted"}
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
    if record:
        with db.transaction():
            pass  # can it record? Say so before grading, not after (--no-record grades only)
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
            rules.summary_of(a),
            verdict["status"],
            verdict["passed"],
            verdict["failed"],
        )
        values = summary._asdict()
        review = q = None
        started = from_iso(a["started_at"])
        elapsed = (now - started).total_seconds()
        if verdict["status"] == "pass":
            # the target is the attempt's own deadline: the card's minutes, or in a mock
            # interview the whole session's (drills.mock)
            target_s = (from_iso(a["deadline_at"]) - started).total_seconds()
            measured = rules.passed_quality(summary, elapsed, target_s, a["hints"])
            q = measured if quality is None else quality
            source = "check" if quality is None else "override"
            review = _review(db, t.card.slug, q, started, now, source)
            values.update(ended_at=iso(now), outcome="pass", quality=q)
        db.update_open_attempt(a["id"], values)
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
        summary = rules.summary_of(a)
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
        db.update_open_attempt(
            a["id"], {"ended_at": iso(now), "outcome": "giveup", "quality": q}
        )
    return GaveUp(c, q, review, (c.path / "reference.py").read_text(encoding="utf-8"))


def abandon(slug: str | None, now: datetime) -> str:
    """End the open attempt with no review: as if it had not been started."""
    db = store()
    with db.transaction():
        a = _open_attempt(db, slug, "abandon")
        db.update_open_attempt(a["id"], {"ended_at": iso(now), "outcome": "abandoned"})
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
            db.update_open_attempt(a["id"], {"hints": level})
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
