"""`drill export` (the upcoming reviews as ICS, CSV or JSON) and `drill backup` / `drill
restore` (the whole database, engine.backup). icalendar is imported only to write ICS."""

from __future__ import annotations

import os
from collections import namedtuple
from datetime import date, datetime, timedelta

from drills.app import cards, interview_date, reader, setting
from drills.errors import DrillError
from engine import paths
from engine.clock import iso, study_day

FORMATS = ("ics", "csv", "json")
COLUMNS = (
    "date",
    "card",
    "title",
    "track",
    "minutes",
    "frequency",
    "kind",
    "overdue_days",
    "interval_days",
    "ease",
    "repetitions",
    "last_review",
)
# day: the first study day; rows: dicts of COLUMNS, by date then most asked first
Upcoming = namedtuple("Upcoming", "day days rows interview generated")


def upcoming(now: datetime, days: int) -> Upcoming:
    """Each card's next review in the next `days` study days, as the schedule stands: an
    overdue card or a failed card's same-day repeat is due today. What comes after a review
    depends on how it goes, so each card appears once. New cards are not scheduled yet."""
    db = reader()
    settings = db.settings()
    day = study_day(now, setting(settings, "rollover_hour"))
    end = day + timedelta(days=days)
    catalog = cards()
    rows = []
    for slug, s in db.states().items():
        c = catalog.get(slug)
        if c is None:  # a card since removed from the bank
            continue
        when = max(date.fromisoformat(s.due), day)
        kind = "due" if s.due >= day.isoformat() else "overdue"
        if s.repeat_pending(day):
            when, kind = day, "again"
        if when >= end:
            continue
        rows.append(
            {
                "date": when.isoformat(),
                "card": slug,
                "title": c.title,
                "track": c.track,
                "minutes": c.minutes,
                "frequency": c.frequency,
                "kind": kind,
                "overdue_days": max(0, (day - date.fromisoformat(s.due)).days),
                "interval_days": s.interval,
                "ease": s.easiness,
                "repetitions": s.repetitions,
                "last_review": s.last_review,
            }
        )
    rows.sort(key=lambda r: (r["date"], -r["frequency"], r["card"]))
    return Upcoming(day, days, rows, interview_date(settings), now)


def render(u: Upcoming, fmt: str) -> str:
    if fmt == "json":
        import json

        return (
            json.dumps(
                {
                    "generated": iso(u.generated),
                    "from": u.day.isoformat(),
                    "days": u.days,
                    "interview_date": u.interview.isoformat() if u.interview else None,
                    "reviews": u.rows,
                },
                indent=2,
            )
            + "\n"
        )
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(u.rows)
        return out.getvalue()
    return _ics(u)


def _ics(u: Upcoming) -> str:
    """One all-day event a day with reviews (its cards in the description), and the interview
    day. UIDs are stable, so importing a newer export updates the same events."""
    from icalendar import Calendar, Event

    from drills import __version__

    cal = Calendar()
    cal.add("prodid", f"-//drill//drill {__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "drill reviews")
    by_day: dict[str, list[dict]] = {}
    for r in u.rows:
        by_day.setdefault(r["date"], []).append(r)
    for day, rows in by_day.items():
        minutes = sum(r["minutes"] for r in rows)
        n = len(rows)
        lines = [
            f"{r['card']}: {r['title']} ({r['minutes']} min"
            + (f", {r['overdue_days']} d overdue" if r["overdue_days"] else "")
            + ")"
            for r in rows
        ]
        lines += ["", "Start with: drill start"]
        first = date.fromisoformat(day)
        _event(
            cal,
            Event(),
            f"drill-reviews-{day}@drill",
            first,
            f"drill: {n} review{'s' * (n != 1)}, {minutes} min",
            "\n".join(lines),
            u.generated,
        )
    if u.interview and u.day <= u.interview < u.day + timedelta(days=u.days):
        _event(
            cal,
            Event(),
            f"drill-interview-{u.interview}@drill",
            u.interview,
            "Interview (drill)",
            "The interview date set with `drill config interview_date`.",
            u.generated,
        )
    if not cal.subcomponents:  # RFC 5545: a calendar holds at least one component
        raise DrillError(
            f"no reviews due in the next {u.days} days, and no interview date: nothing "
            "to put in a calendar (new cards are not scheduled yet; try a larger --days)"
        )
    return cal.to_ical().decode("utf-8")


def _event(cal, event, uid, day, summary, description, stamp) -> None:
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))  # all-day: the end is exclusive
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")  # a reminder, not busy time
    event.add("categories", ["drill"])
    cal.add_component(event)


def format_of(fmt: str | None, path: str | None) -> str:
    """The format asked for, or the one PATH's extension names."""
    if fmt:
        return fmt
    ext = os.path.splitext(path or "")[1].lstrip(".").lower()
    if ext in FORMATS:
        return ext
    raise DrillError(
        "say which format: --format ics|csv|json"
        + (f" ({path} has no .ics, .csv or .json extension)" if path else "")
    )


def check_destination(path: str) -> str:
    """The folder PATH will be written in; DrillError if it cannot be."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise DrillError(f"{path} is a folder: give a file name (e.g. {path}/x.ics)")
    if not os.path.isdir(folder):
        raise DrillError(f"cannot write {path}: the folder {folder} does not exist")
    return folder


def write_file(text: str, path: str) -> None:
    """Write whole or not at all: a temporary file beside PATH, then a rename."""
    folder = check_destination(path)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise DrillError(f"cannot write {path} ({exc.strerror or exc})") from None


# -- backup and restore ------------------------------------------------------------------------
def backup(dest: str, now: datetime):
    """The live database copied to `dest` (a folder: a dated file inside it)."""
    from engine import backup as b

    if os.path.isdir(dest):
        dest = unused(
            os.path.join(dest, f"drill-{now.astimezone():%Y-%m-%d-%H%M%S}.db")
        )
    elif os.path.exists(dest):
        from engine.reader import StoreError

        try:
            b.inspect(dest)  # an older backup: replaced
        except StoreError:  # anything else is kept
            raise DrillError(
                f"{dest} exists and is not a drill backup: choose another file name"
            ) from None
    return b.backup(paths.db_path(), dest)


def unused(path: str) -> str:
    """`path`, or `path` with -2, -3, ... before its extension if that file exists."""
    stem, ext = os.path.splitext(path)
    n = 1
    while os.path.exists(path):
        n += 1
        path = f"{stem}-{n}{ext}"
    return path


def restore_preview(source: str):
    """(what the backup holds, what the live database holds or None, why the live database
    cannot be read or None)."""
    from engine import backup as b
    from engine.reader import StoreError

    incoming = b.inspect(source)
    live = paths.db_path()
    if not os.path.exists(live):
        return incoming, None, None
    try:
        return incoming, b.inspect(live, "database"), None
    except StoreError as exc:
        return incoming, None, str(exc)


def restore(source: str, now: datetime):
    """Replace the live database with the backup. The replaced one is kept in the data
    folder's backups/ (an unreadable one is moved there). Returns (the restored Info, the
    kept copy's path or None)."""
    from engine import backup as b

    _, current, problem = restore_preview(source)
    stamp = f"{now.astimezone():%Y-%m-%d-%H%M%S}"
    folder = os.path.join(paths.data_dir(), "backups")
    keep = None
    if problem:
        keep = unused(os.path.join(folder, f"unreadable-{stamp}.db"))
        os.makedirs(folder, exist_ok=True)
        live = paths.db_path()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(live + suffix):
                os.replace(live + suffix, keep + suffix)
    elif b.has_data(current):
        keep = unused(os.path.join(folder, f"before-restore-{stamp}.db"))
    restored = b.restore(source, paths.db_path(), None if problem else keep)
    return restored, keep


def summary(info) -> str:
    """ "412 reviews, 498 attempts, 801 checks, 9 card states, 3 mock sessions"."""
    names = [
        ("reviews", "review"),
        ("attempts", "attempt"),
        ("checks", "check"),
        ("schedule", "card state"),
        ("mocks", "mock session"),
    ]
    parts = [
        f"{info.rows[t]} {word}{'s' * (info.rows[t] != 1)}"
        for t, word in names
        if t in info.rows
    ]
    return ", ".join(parts)
