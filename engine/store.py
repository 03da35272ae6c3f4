"""The SQLite store: migrations when it opens, and every write. Append-only logs of attempts,
checks and reviews; `schedule` is the SM-2 state derived from the reviews."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path

from engine.clock import iso, study_day
from engine.reader import Reader, _fail
from engine.sm2 import INITIAL_EASINESS, review_x100

BUSY_TIMEOUT_S = 10.0  # how long a write waits for another drill process's transaction


@contextmanager
def _migration_lock(path: Path):
    """Two first runs at once must not both create the tables."""
    try:
        import fcntl
    except ImportError:  # Windows: SQLite's own locking has to do
        yield
        return
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Store(Reader):
    def __init__(self, path=None, *, memory: bool = False):
        import sqlite_utils

        from engine.schema import SCHEMA_VERSION, migrations

        self.path = Path(path) if path else Path(":memory:")
        try:
            if memory:
                self.db = sqlite_utils.Database(memory=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S)
                self.db = sqlite_utils.Database(conn)
                self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                self.db.enable_wal()
            if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                with nullcontext() if memory else _migration_lock(self.path):
                    migrations.apply(self.db)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise _fail(self.path, exc) from None
        self.db.conn.row_factory = sqlite3.Row
        super().__init__(self.db.conn, self.path)

    @contextmanager
    def _write(self):
        try:
            with self.db.conn:
                yield
        except sqlite3.Error as exc:
            raise _fail(self.path, exc) from None

    # -- settings ---------------------------------------------------------------------------
    def set_setting(self, key: str, value: str) -> None:
        with self._write():
            self.db["settings"].upsert({"key": key, "value": value}, pk="key")

    # -- attempts and checks ----------------------------------------------------------------
    def start_attempt(
        self, card: str, path, started: datetime, deadline: datetime
    ) -> int:
        with self._write():
            table = self.db["attempts"].insert(
                {
                    "card": card,
                    "started_at": iso(started),
                    "deadline_at": iso(deadline),
                    "path": str(path),
                }
            )
        return table.last_pk

    def record_check(self, attempt_id: int | None, verdict: dict, at: datetime) -> int:
        row = {
            "attempt_id": attempt_id,
            "card": verdict["card"],
            "at": iso(at),
            "status": verdict["status"],
            "passed": verdict["passed"],
            "failed": verdict["failed"],
            "duration_s": verdict["duration_s"],
            "device": verdict["device"],
            "verdict": json.dumps(verdict),
        }
        with self._write():
            return self.db["checks"].insert(row).last_pk

    def end_attempt(
        self, attempt_id: int, outcome: str, quality: int, at: datetime
    ) -> None:
        with self._write():
            self.db["attempts"].update(
                attempt_id,
                {"ended_at": iso(at), "outcome": outcome, "quality": quality},
            )

    # -- reviews ----------------------------------------------------------------------------
    def review(
        self, card: str, quality: int, at: datetime, rollover_hour: int, source: str
    ) -> dict:
        """Log a review and step the card's SM-2 state. The first review of a study day counts;
        later ones that day are same-day repeats: logged, and they only settle `again_on`."""
        day = study_day(at, rollover_hour)
        state = self.states().get(card)
        counted = state is None or state.last_review != day.isoformat()
        if state is None:
            reps, interval, ease = 0, 0, round(INITIAL_EASINESS * 100)
            lapses, reviews, first_day = 0, 0, day.isoformat()
        else:
            reps, interval, ease = state.repetitions, state.interval, state.ease_x100
            lapses, reviews, first_day = state.lapses, state.reviews, state.first_day
        due = date.fromisoformat(state.due) if state else day
        if counted:
            reps, interval, ease = review_x100(reps, interval, ease, quality)
            due = day + timedelta(days=interval)
            lapses += quality < 3
        again_on = day.isoformat() if quality < 4 else None
        row = {
            "card": card,
            "repetitions": reps,
            "interval": interval,
            "ease_x100": ease,
            "due": due.isoformat(),
            "again_on": again_on,
            "last_review": day.isoformat(),
            "lapses": lapses,
            "reviews": reviews + 1,
            "first_day": first_day,
        }
        with self._write():
            self.db["reviews"].insert(
                {
                    "card": card,
                    "at": iso(at),
                    "day": day.isoformat(),
                    "quality": quality,
                    "source": source,
                    "counted": int(counted),
                    "repetitions": reps,
                    "interval": interval,
                    "ease_x100": ease,
                    "due": due.isoformat(),
                }
            )
            self.db["schedule"].upsert(row, pk="card")
        return {**row, "counted": counted}
