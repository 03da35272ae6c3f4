"""The SQLite store: migrations when it opens, then plain-SQL writes, one transaction per user
action. It decides nothing: what to write comes from engine.schedule, engine.attempt and
engine.plan. Attempts, checks and reviews are append-only logs; `schedule` is derived state."""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager

from engine.migrations import SCHEMA_VERSION
from engine.reader import Reader, StoreError, diagnose

BUSY_TIMEOUT_S = 10.0  # how long a write waits for another drill process's transaction


@contextmanager
def _migration_lock(path: str):
    """Two first runs at once must not both create the tables."""
    try:
        import fcntl
    except ImportError:  # Windows: SQLite's own locking has to do
        yield
        return
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _migrate(path: str) -> None:
    import sqlite_utils

    from engine.schema import migrations

    with _migration_lock(path):
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        try:
            db = sqlite_utils.Database(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the database {path} was written by a newer drill; upgrade drill"
                )
            if version != SCHEMA_VERSION:
                db.enable_wal()
                migrations.apply(db)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.commit()
        finally:
            conn.close()


class Store(Reader):
    def __init__(self, path=None, *, memory: bool = False):
        self.path = ":memory:" if memory else os.fspath(path)
        try:
            if not memory:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None
            )
            if not memory and _version(conn) != SCHEMA_VERSION:
                conn.close()  # migrations run on a connection of their own, under a lock
                _migrate(self.path)
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None
                )
            if memory:
                import sqlite_utils

                from engine.schema import migrations

                with conn:
                    migrations.apply(sqlite_utils.Database(conn))
        except (sqlite3.Error, OSError) as exc:
            raise diagnose(self.path, exc) from None
        conn.row_factory = sqlite3.Row
        super().__init__(conn, self.path)

    @contextmanager
    def transaction(self):
        """One user action: BEGIN IMMEDIATE (so reads inside it see what the write will
        change), then COMMIT, or ROLLBACK on any error."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise diagnose(self.path, exc) from None
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.conn.execute("ROLLBACK")
            raise diagnose(self.path, exc) from None

    def _run(self, sql: str, params=()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise diagnose(self.path, exc) from None

    def insert(self, table: str, row: dict) -> int:
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        sql = f"insert into {table} ({names}) values ({marks})"
        return self._run(sql, tuple(row.values())).lastrowid

    def update(self, table: str, key: dict, values: dict, *, only_if: str = "") -> int:
        """Rows changed; `only_if` adds an SQL condition (e.g. "ended_at is null")."""
        sets = ", ".join(f"{k} = ?" for k in values)
        where = " and ".join(f"{k} = ?" for k in key) + (
            f" and {only_if}" if only_if else ""
        )
        sql = f"update {table} set {sets} where {where}"
        return self._run(sql, (*values.values(), *key.values())).rowcount

    def upsert(self, table: str, row: dict, key: str) -> None:
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        sets = ", ".join(f"{k} = excluded.{k}" for k in row if k != key)
        sql = f"insert into {table} ({names}) values ({marks}) on conflict({key}) do update set {sets}"
        self._run(sql, tuple(row.values()))

    def update_open_attempt(self, attempt_id: int, values: dict) -> int:
        """Change an attempt that has not ended yet (1), or nothing if it has (0): of two
        actions racing to end one attempt, only the first does."""
        return self.update(
            "attempts", {"id": attempt_id}, values, only_if="ended_at is null"
        )

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self.upsert("settings", {"key": key, "value": value}, "key")

    def delete_setting(self, key: str) -> bool:
        """Remove a setting (its default applies again); False if it was not set."""
        with self.transaction():
            return self._run("delete from settings where key = ?", (key,)).rowcount > 0


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]
