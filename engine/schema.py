"""Schema version and its migrations (append-only: never edit one that has shipped)."""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

# The version lives in engine.reader (the light path checks it without sqlite-utils).
from engine.reader import SCHEMA_VERSION  # noqa: F401 - re-exported for the Store

migrations = Migrations("drill")


@migrations()
def m001_initial(db):
    db["attempts"].create(
        {
            "id": int,
            "card": str,
            "started_at": str,
            "deadline_at": str,
            "path": str,
            "ended_at": str,
            "outcome": str,  # "pass" | "giveup"
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
            "source": str,  # "check" | "giveup" | "override"
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
