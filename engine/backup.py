"""Backup and restore of the whole database, through SQLite's online backup API.

The API copies the file page by page, consistently, even while another drill writes to it, so
every table is in the copy: attempts, checks, reviews, the schedule, settings, plans, mock
sessions, and whatever a later schema adds, with no list of tables to keep up to date. A
restore copies the backup into the live database the same way (other drill processes see the
old state or the new, never a mix), after keeping a copy of what it replaces. Asking before
overwriting is the caller's part (drills.cli)."""

from __future__ import annotations

import os
import sqlite3
from collections import namedtuple
from contextlib import closing

from engine.migrations import SCHEMA_VERSION
from engine.reader import StoreError, diagnose

HEADER = b"SQLite format 3\x00"
# a drill database's
REQUIRED = (
    "attempts",
    "checks",
    "reviews",
    "schedule",
    "settings",
)
DERIVED = ("plans",)  # rebuilt by drill: a database holding only these holds no data
BUSY_TIMEOUT_S = 10.0

# version: the schema version; rows: table -> rows
Info = namedtuple("Info", "path version rows")


def _ro(path: str) -> str:
    """A read-only URI for a path (quoted: a `?` or `#` in a folder name stays a name)."""
    from urllib.parse import quote

    return f"file:{quote(os.path.abspath(path))}?mode=ro"


def has_data(info: Info | None) -> bool:
    return bool(info) and any(n for t, n in info.rows.items() if t not in DERIVED)


def _rows(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [
        r[0]
        for r in conn.execute(
            "select name from sqlite_master where type = 'table'"
            " and name not like 'sqlite_%' order by name"
        )
    ]
    return {
        t: conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables
    }


def inspect(path: str, what: str = "backup") -> Info:
    """What a drill database file holds; StoreError, one line, if it is not one."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise StoreError(f"{path} is a folder, not a drill {what} file")
    try:
        with open(path, "rb") as f:
            header = f.read(len(HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {path} ({exc.strerror or exc})") from None
    if header != HEADER:
        raise StoreError(f"{path} is not a drill {what}: not an SQLite database")
    try:
        with closing(
            sqlite3.connect(_ro(path), uri=True, timeout=BUSY_TIMEOUT_S)
        ) as conn:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            rows = _rows(conn) if check == "ok" else {}
    except sqlite3.Error as exc:
        raise StoreError(f"{path} cannot be read as a drill {what} ({exc})") from None
    if check != "ok":
        raise StoreError(f"{path} is damaged (SQLite's check says: {check})")
    missing = [t for t in REQUIRED if t not in rows]
    if version == 0 or missing:
        raise StoreError(
            f"{path} is not a drill {what}: an SQLite database without drill's tables"
            + (f" (no {', '.join(missing)})" if missing else "")
        )
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer drill; upgrade drill first")
    return Info(path, version, rows)


def _copy(source: str, dest: str, *, source_uri: bool = False) -> None:
    """Page-by-page copy of one database into another with the backup API."""
    src = sqlite3.connect(source, uri=source_uri, timeout=BUSY_TIMEOUT_S)
    with closing(src), closing(sqlite3.connect(dest, timeout=BUSY_TIMEOUT_S)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file


def backup(db_path: str, dest: str) -> Info:
    """Copy the live database to `dest` (written whole or not at all)."""
    db_path, dest = os.fspath(db_path), os.fspath(dest)
    if not os.path.exists(db_path):
        raise StoreError(
            f"nothing to back up: drill has recorded nothing yet (no database at {db_path})"
        )
    folder = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(folder):
        raise StoreError(f"cannot write {dest}: the folder {folder} does not exist")
    if os.path.realpath(dest) == os.path.realpath(db_path):
        raise StoreError(f"{dest} is the live database: back up to another file")
    tmp = os.path.join(folder, f".{os.path.basename(dest)}.{os.getpid()}.tmp")
    try:
        _copy(_ro(db_path), tmp, source_uri=True)
        info = inspect(tmp, "database")
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise diagnose(db_path, exc) from None
    except OSError as exc:
        raise StoreError(f"cannot write {dest} ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return info._replace(path=dest)


def restore(source: str, db_path: str, keep: str | None) -> Info:
    """Replace the live database with the backup `source` (upgraded to this drill's schema
    when it is older). `keep`: where to back up the current database first (None: it holds
    nothing worth keeping). The source file is only read."""
    source, db_path = os.fspath(source), os.fspath(db_path)
    inspect(source)
    folder = os.path.dirname(db_path) or "."
    os.makedirs(folder, exist_ok=True)
    _sweep(folder)
    tmp = os.path.join(folder, f".restore.{os.getpid()}.db")
    try:
        _copy(_ro(source), tmp, source_uri=True)
        if inspect(tmp).version < SCHEMA_VERSION:
            from engine.store import Store

            Store(tmp).conn.close()  # its migrations run; every row stays
        restored = inspect(tmp)
        if keep:
            os.makedirs(os.path.dirname(keep), exist_ok=True)
            backup(db_path, keep)
        _replace_live(tmp, db_path)
    except sqlite3.Error as exc:
        raise diagnose(db_path, exc) from None
    except OSError as exc:
        raise StoreError(
            f"cannot restore into {folder} ({exc.strerror or exc})"
        ) from None
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + ".lock"):
            if os.path.exists(leftover):
                os.remove(leftover)
    return restored._replace(path=db_path)


def _sweep(folder: str) -> None:
    """Remove the temporary copies of restores that were killed (their process is gone)."""
    for name in os.listdir(folder):
        parts = name.split(".")
        if name.startswith(".restore.") and len(parts) > 2 and parts[2].isdigit():
            try:
                os.kill(int(parts[2]), 0)
            except ProcessLookupError:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass  # alive, another user's: leave it


def _replace_live(tmp: str, db_path: str) -> None:
    """The live database becomes a copy of `tmp`, in one step that other connections see
    whole. A WAL database only takes pages of its own size; else it leaves WAL for the copy."""
    live = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S)
    with closing(sqlite3.connect(tmp)) as src, closing(live):
        size = src.execute("PRAGMA page_size").fetchone()[0]
        if live.execute("PRAGMA page_size").fetchone()[0] != size:
            live.execute("PRAGMA journal_mode = DELETE")
        src.backup(live)
        live.execute("PRAGMA journal_mode = WAL")
