"""The light read path: the standard library's sqlite3 only (no sqlite-utils, no migrations).

Commands that only read (`today`, `list`, `report`, ...) open the database here. A database
that does not exist yet or has an older schema version returns None, and the caller opens the
full `Store` once, which creates or migrates it.
"""

from __future__ import annotations

import os
import sqlite3
from collections import namedtuple

SCHEMA_VERSION = (
    1  # PRAGMA user_version of a current database; bump with each migration
)

DEFAULT_SETTINGS = {"budget_minutes": "60", "new_per_day": "2", "rollover_hour": "4"}


class StoreError(Exception):
    """The database cannot be used; the message says what to do. Nothing was changed."""


class CardState(
    namedtuple(
        "CardState",
        "card repetitions interval ease_x100 due again_on last_review lapses reviews first_day",
    )
):
    """A card's SM-2 state: one row of `schedule` (dates as ISO strings, EF in hundredths).
    Named tuples, not dataclasses or typing.NamedTuple: their imports cost the light path."""

    __slots__ = ()

    @property
    def easiness(self) -> float:
        return self.ease_x100 / 100


def _fail(path, exc: Exception) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"the database {path} is locked by another program; try again in a moment"
        )
    return StoreError(
        f"the database {path} is unreadable ({text}); nothing was changed: move it aside "
        "or restore a backup, and drill starts a new one"
    )


def connect_readonly(path: str) -> sqlite3.Connection | None:
    """A read-only connection to a current database; None if it is missing or needs migrating."""
    if not os.path.exists(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise _fail(path, exc) from None
    if version != SCHEMA_VERSION:
        conn.close()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {path} was written by a newer drill; upgrade drill"
            )
        return None
    return conn


class Reader:
    """Queries shared by the read-only path and the Store (both hold a sqlite3 connection)."""

    def __init__(self, conn: sqlite3.Connection, path):
        self.conn = conn
        self.path = path

    def _rows(self, sql: str, params=()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _fail(self.path, exc) from None

    def settings(self) -> dict[str, str]:
        values = dict(DEFAULT_SETTINGS)
        values.update(
            {
                r["key"]: r["value"]
                for r in self._rows("select key, value from settings")
            }
        )
        return values

    def states(self) -> dict[str, CardState]:
        rows = self._rows(
            "select card, repetitions, interval, ease_x100, due, again_on, last_review, lapses,"
            " reviews, first_day from schedule"
        )
        return {r["card"]: CardState(**dict(r)) for r in rows}

    def open_attempts(self) -> list[sqlite3.Row]:
        return self._rows(
            "select * from attempts where ended_at is null order by started_at desc, id desc"
        )

    def attempts_for(self, card: str) -> list[sqlite3.Row]:
        return self._rows("select * from attempts where card = ? order by id", (card,))

    def checks_for(self, attempt_id: int) -> list[sqlite3.Row]:
        return self._rows(
            "select * from checks where attempt_id = ? order by id", (attempt_id,)
        )

    def reviews_on(self, day: str) -> list[sqlite3.Row]:
        return self._rows("select * from reviews where day = ? order by id", (day,))

    def passed_cards(self) -> set[str]:
        return {
            r["card"]
            for r in self._rows("select distinct card from reviews where quality >= 3")
        }

    def reviews(self) -> list[sqlite3.Row]:
        return self._rows("select * from reviews order by id")


def open_reader(path: str) -> Reader | None:
    conn = connect_readonly(path)
    return Reader(conn, path) if conn else None
