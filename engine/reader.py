"""The light read path: the standard library's sqlite3 only (no sqlite-utils, no migrations).

Commands that only read (`today`, `list`, `status`, ...) open the database here. A database
that does not exist yet or has an older schema version returns None, and the caller opens the
full `Store` once, which creates or migrates it. A read-only data folder is read as it is.
"""

from __future__ import annotations

import os
import sqlite3

from engine.migrations import SCHEMA_VERSION
from engine.schedule import CardState

DEFAULT_SETTINGS = {"budget_minutes": "60", "new_per_day": "2", "rollover_hour": "4"}


class StoreError(Exception):
    """The database cannot be used; the message says what to do. Nothing was changed."""


def diagnose(path, exc: BaseException) -> StoreError:
    """One true line for a database that cannot be opened or written."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"the database {path} is locked by another program; try again in a moment"
        )
    if os.path.exists(folder) and not os.path.isdir(folder):
        return StoreError(
            f"the data folder {folder} is a file, not a folder: point DRILL_HOME at a folder"
        )
    if not os.path.isdir(folder):
        reason = getattr(exc, "strerror", None) or text
        return StoreError(
            f"cannot create the data folder {folder} ({reason}): set DRILL_HOME to a "
            "writable folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return StoreError(
            f"the data folder {folder} is read-only: drill can show your schedule but "
            "cannot record this; make it writable or set DRILL_HOME"
        )
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return StoreError(
            f"the database {path} is read-only: drill can show your schedule but cannot "
            f"record this; make it writable (chmod u+w {path})"
        )
    if isinstance(exc, OSError):
        return StoreError(f"cannot write in the data folder {folder} ({text})")
    return StoreError(
        f"the database {path} is not a readable SQLite file ({text}); nothing was changed: "
        "move it aside or restore a backup, and drill starts a new one"
    )


def connect_readonly(path: str) -> sqlite3.Connection | None:
    """A read-only connection to a current database; None if it is missing or needs migrating."""
    if not os.path.exists(path):
        return None
    try:
        conn = _open_readonly(path)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise diagnose(path, exc) from None
    if version != SCHEMA_VERSION:
        conn.close()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {path} was written by a newer drill; upgrade drill"
            )
        return None
    return conn


def _open_readonly(path: str) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5, isolation_level=None)
    try:
        conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError:
        # A WAL database in a read-only folder cannot make its shared-memory file: read the
        # file as it is (nobody can be writing it there).
        conn.close()
        if os.access(os.path.dirname(path) or ".", os.W_OK):
            raise
        conn = sqlite3.connect(
            uri + "&immutable=1", uri=True, timeout=5, isolation_level=None
        )
    conn.row_factory = sqlite3.Row
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
            raise diagnose(self.path, exc) from None

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
        rows = self._rows(f"select {', '.join(CardState._fields)} from schedule")
        return {r["card"]: CardState(*r) for r in rows}

    def state(self, card: str) -> CardState | None:
        rows = self._rows(
            f"select {', '.join(CardState._fields)} from schedule where card = ?",
            (card,),
        )
        return CardState(*rows[0]) if rows else None

    def open_attempts(self) -> list[sqlite3.Row]:
        return self._rows(
            "select * from attempts where ended_at is null order by started_at desc, id desc"
        )

    def attempt(self, attempt_id: int) -> sqlite3.Row | None:
        rows = self._rows("select * from attempts where id = ?", (attempt_id,))
        return rows[0] if rows else None

    def attempts_for(self, card: str) -> list[sqlite3.Row]:
        return self._rows("select * from attempts where card = ? order by id", (card,))

    def attempts_on(self, day: str) -> list[sqlite3.Row]:
        return self._rows("select * from attempts where day = ? order by id", (day,))

    def plan(self, day: str) -> list[sqlite3.Row]:
        return self._rows("select * from plans where day = ? order by pos", (day,))

    def reviews_on(self, day: str) -> list[sqlite3.Row]:
        return self._rows("select * from reviews where day = ? order by id", (day,))

    def passed_cards(self) -> set[str]:
        return {
            r["card"]
            for r in self._rows(
                "select card from schedule s where exists (select 1 from reviews r"
                " where r.card = s.card and r.quality >= 3)"
            )
        }

    def reviews(self) -> list[sqlite3.Row]:
        return self._rows("select * from reviews order by id")

    def reviewed_since(self, day: str) -> set[str]:
        """Cards with a review on study day `day` or later."""
        rows = self._rows("select distinct card from reviews where day >= ?", (day,))
        return {r["card"] for r in rows}

    def ended_attempts(self) -> list[sqlite3.Row]:
        """Every attempt that has ended (passed, given up, restarted or abandoned)."""
        return self._rows(
            "select * from attempts where ended_at is not null order by id"
        )

    def best_speeds(self, cards: list[str]) -> dict[str, dict]:
        """Per kernel card of `cards`, the speed report of its fastest passing check (on a GPU)."""
        import json

        if not cards:
            return {}
        best: dict[str, dict] = {}
        marks = ", ".join("?" * len(cards))
        for r in self._rows(
            "select card, json_extract(verdict, '$.speed') as speed from checks"
            f" where card in ({marks}) and status = 'pass'"
            " and json_extract(verdict, '$.speed') is not null",
            tuple(cards),
        ):
            try:
                speed = json.loads(r["speed"])
                if speed["speedup"] > best.get(r["card"], {}).get("speedup", -1):
                    best[r["card"]] = speed
            except (ValueError, TypeError, KeyError):
                continue  # a report of another shape: not shown
        return best


def open_reader(path: str) -> Reader | None:
    conn = connect_readonly(os.fspath(path))
    return Reader(conn, path) if conn else None
