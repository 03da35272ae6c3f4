"""The schema's migrations, in order (append-only: never edit one that has shipped).

Each is a plain function of a sqlite-utils Database; `engine.schema` registers them with
sqlite-utils. This module imports nothing, so the light read path learns the schema version
from it for free: the version is the number of migrations, and cannot be forgotten."""

from __future__ import annotations


def m001_initial(db):
    db["attempts"].create(
        {
            "id": int,
            "card": str,
            "started_at": str,
            "deadline_at": str,
            "path": str,
            "ended_at": str,
            "outcome": str,  # "pass" | "giveup" | "restarted" (| "abandoned" from m002)
            "quality": int,
        },
        pk="id",
        not_null={"card", "started_at", "deadline_at", "path"},
    )
    db["attempts"].create_index(["card"])
    db["checks"].create(
        {
            "id": int,
            "attempt_id": int,
            "card": str,
            "at": str,
            "status": str,
            "passed": int,
            "failed": int,
            "duration_s": float,
            "device": str,
            "verdict": str,  # the JSON verdict
        },
        pk="id",
        not_null={"card", "at", "status"},
    )
    db["checks"].create_index(["attempt_id"])
    db["reviews"].create(
        {
            "id": int,
            "card": str,
            "at": str,
            "day": str,
            "quality": int,
            "source": str,  # "check" | "giveup" | "override" (| "hint" | "solution" from m002)
            "counted": int,  # 1 when the SM-2 step applied; 0 for a same-day repeat
            "repetitions": int,
            "interval": int,
            "ease_x100": int,
            "due": str,
        },
        pk="id",
        not_null={"card", "at", "day", "quality"},
    )
    db["reviews"].create_index(["card", "day"])
    db["schedule"].create(
        {
            "card": str,
            "repetitions": int,
            "interval": int,
            "ease_x100": int,
            "due": str,
            "again_on": str,  # a study day on which the card comes back (graded below 4)
            "last_review": str,
            "lapses": int,
            "reviews": int,
            "first_day": str,
        },
        pk="card",
    )
    db["settings"].create({"key": str, "value": str}, pk="key")


def m002_daily_loop(db):
    """The day's plan, attempt summaries (no re-reading of checks), hints, review kinds."""
    db["plans"].create(
        {
            "day": str,
            "pos": int,
            "card": str,
            "kind": str,  # "due" | "new" | "again" | "unlocked" | "extra"
            "minutes": int,
            "reason": str,
            "added_at": str,
            "done_at": str,  # set when an attempt at the card ends with a review that day
        },
        pk=("day", "pos"),
        not_null={"card", "kind"},
    )
    attempts = db["attempts"]
    attempts.add_column("day", str)  # the study day the attempt started on
    attempts.add_column("checks", int, not_null_default=0)
    # before the first pass
    attempts.add_column("failed_checks", int, not_null_default=0)
    attempts.add_column("best_passed", int, not_null_default=0)
    attempts.add_column("best_total", int, not_null_default=0)
    attempts.add_column("hints", int, not_null_default=0)  # hint levels seen
    rollover = db.execute(
        "select coalesce((select value from settings where key = 'rollover_hour'), '4')"
    ).fetchone()[0]
    db.execute(
        "update attempts set day = date(started_at, 'localtime', ?)",
        (f"-{rollover} hours",),
    )
    # The summaries of attempts made before this migration, from their checks.
    db.execute(
        """update attempts set
             checks = (select count(*) from checks c where c.attempt_id = attempts.id),
             failed_checks = (select count(*) from checks c
                              where c.attempt_id = attempts.id and c.status != 'pass'),
             best_passed = coalesce((select c.passed from checks c where c.attempt_id = attempts.id
                              order by 1.0 * c.passed / max(1, c.passed + c.failed) desc,
                              c.passed desc limit 1), 0),
             best_total = coalesce((select c.passed + c.failed from checks c
                              where c.attempt_id = attempts.id
                              order by 1.0 * c.passed / max(1, c.passed + c.failed) desc,
                              c.passed desc limit 1), 0)"""
    )
    attempts.create_index(["day"])
    db["reviews"].create_index(["day"])
    db["reviews"].add_column("kind", str)  # "first" | "early" | "repeat"
    db.execute(
        "update reviews set kind = case when counted then 'first' else 'repeat' end"
    )
    db["schedule"].add_column("day_reviews", int, not_null_default=1)
    db.execute(
        """update schedule set day_reviews = (select count(*) from reviews r
             where r.card = schedule.card and r.day = schedule.last_review)"""
    )


def m003_mock_sessions(db):
    """Timed mock interviews: a session, its problems (each an attempt), their final grades."""
    db["mocks"].create(
        {
            "id": int,
            "started_at": str,
            "deadline_at": str,  # absolute: `drill mock --resume` runs against it
            "minutes": int,
            "folder": str,
            "seed": int,
            "topic": str,
            "company": str,
            "ended_at": str,
            "end_reason": str,  # "deadline" | "finish" | "done" (every problem ended early)
        },
        pk="id",
        not_null={"started_at", "deadline_at", "minutes", "folder"},
    )
    db["mock_problems"].create(
        {
            "mock_id": int,
            "pos": int,
            "card": str,
            "attempt_id": int,
            "path": str,
            "weight": float,  # why it was picked: frequency x weakness
            "status": str,  # the final verdict; null until the problem is graded
            "passed": int,
            "total": int,
            "used_s": float,  # from the session's start to its pass (or to the end)
            "quality": int,
            "graded_at": str,
        },
        pk=("mock_id", "pos"),
        not_null={"card", "path"},
        foreign_keys=[("mock_id", "mocks", "id")],
    )
    db["mock_problems"].create_index(["card"])
    db["attempts"].add_column("mock_id", int)  # the session an attempt belongs to
    db["attempts"].create_index(["mock_id"])


def m004_checks_by_card(db):
    """`drill list` reads the kernel cards' best speeds from their checks: by card, not a scan
    of years of checks."""
    db["checks"].create_index(["card", "status"])


STEPS = (m001_initial, m002_daily_loop, m003_mock_sessions, m004_checks_by_card)
SCHEMA_VERSION = len(STEPS)  # PRAGMA user_version of a current database
