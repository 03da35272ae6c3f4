import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import reader as light
from engine.reader import StoreError, open_reader
from engine.schema import SCHEMA_VERSION
from engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
OLD_DB = ROOT / "tests" / "fixtures" / "db" / "schema1.db"  # made by the schema-1 code


def test_schema_version_is_the_number_of_migrations():
    from engine import migrations

    steps = [
        name for name in vars(migrations) if name[:1] == "m" and name[1:4].isdigit()
    ]
    assert [f.__name__ for f in migrations.STEPS] == sorted(steps), (
        "every migration function must be listed in STEPS, in order"
    )
    assert [int(f.__name__[1:4]) for f in migrations.STEPS] == list(
        range(1, len(steps) + 1)
    )
    assert SCHEMA_VERSION == len(steps) == light.SCHEMA_VERSION


def _counts(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("attempts", "checks", "reviews", "schedule", "settings")
        }
    finally:
        conn.close()


def test_a_database_of_the_first_schema_upgrades_with_every_row_intact(tmp_path):
    path = tmp_path / "drill.db"
    shutil.copy(OLD_DB, path)
    before = _counts(path)
    old = sqlite3.connect(path)
    old.row_factory = sqlite3.Row
    reviews = [dict(r) for r in old.execute("select * from reviews order by id")]
    schedule = [dict(r) for r in old.execute("select * from schedule order by card")]
    checks = [dict(r) for r in old.execute("select * from checks order by id")]
    old.close()
    assert before["reviews"] >= 300 and before["checks"] >= 300
    assert open_reader(path) is None  # an old version: the Store must migrate it
    store = Store(path)
    assert _counts(path) == before
    assert [
        {k: r[k] for k in reviews[0]} for r in map(dict, store.reviews())
    ] == reviews
    assert [
        {k: r[k] for k in schedule[0]}
        for r in map(dict, store._rows("select * from schedule order by card"))
    ] == schedule
    assert [
        {k: r[k] for k in checks[0]}
        for r in map(dict, store._rows("select * from checks order by id"))
    ] == checks
    # the new columns are derived from the old rows
    for a in store._rows("select * from attempts"):
        mine = [c for c in checks if c["attempt_id"] == a["id"]]
        assert a["checks"] == len(mine) and a["day"] is not None
        assert a["failed_checks"] == sum(c["status"] != "pass" for c in mine)
    kinds = {r["kind"] for r in store.reviews()}
    assert kinds <= {"first", "repeat"} and "first" in kinds
    assert store.settings()["budget_minutes"] == "45"
    assert open_reader(path) is not None  # current now: light commands read it directly


def test_a_failed_action_writes_nothing(tmp_path):
    store = Store(tmp_path / "drill.db")
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("settings", {"key": "budget_minutes", "value": "30"})
        raise RuntimeError("boom")
    assert store.settings()["budget_minutes"] == "60"


def test_a_newer_database_is_refused(tmp_path):
    path = tmp_path / "drill.db"
    Store(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer drill"):
        open_reader(path)
    with pytest.raises(StoreError, match="newer drill"):
        Store(path)


def test_two_processes_at_once(tmp_path, toy_cards):
    """Two `drill` commands on one (new) database at the same moment both work."""
    env = {**os.environ, "DRILL_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from drills.cli import main; main()"]
    for _ in range(3):
        procs = [
            subprocess.Popen(
                [*cmd, "start", "add_scaled", "--dir", str(tmp_path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [*cmd, "config", "budget_minutes", "45"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [*cmd, "today"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        ]
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0, out.decode()
    reader = open_reader(tmp_path / "home" / "drill.db")
    assert len(reader.open_attempts()) == 1
    assert reader.settings()["budget_minutes"] == "45"


FIXTURE_DBS = sorted((ROOT / "tests" / "fixtures" / "db").glob("schema*.db"))


@pytest.mark.parametrize("fixture", FIXTURE_DBS, ids=lambda p: p.name)
def test_every_committed_database_upgrades_with_every_row_intact(tmp_path, fixture):
    """Each committed database (schema 1; schema 2 with plans and hints) upgrades to the
    current schema with every row of every table as it was; the new tables start empty."""
    path = tmp_path / "drill.db"
    shutil.copy(fixture, path)
    old = sqlite3.connect(path)
    tables = [
        r[0]
        for r in old.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        )
    ]
    before = {}
    for t in tables:
        columns = [r[1] for r in old.execute(f"pragma table_info({t})")]
        rows = old.execute(
            f"select {', '.join(columns)} from {t} order by rowid"
        ).fetchall()
        before[t] = (columns, rows)
    old.close()
    assert sum(len(rows) for _, rows in before.values()) > 1000
    Store(path).conn.close()
    new = sqlite3.connect(path)
    for t, (columns, rows) in before.items():
        now = new.execute(
            f"select {', '.join(columns)} from {t} order by rowid"
        ).fetchall()
        assert now[: len(rows)] == rows, f"{fixture.name}: rows of {t} changed"
        if t != "_sqlite_migrations":  # the only table an upgrade appends to
            assert len(now) == len(rows), f"{fixture.name}: {t} gained rows"
    assert new.execute("select count(*) from mocks").fetchone() == (0,)
    assert new.execute("select count(*) from mock_problems").fetchone() == (0,)
    assert new.execute(
        "select count(*) from attempts where mock_id is not null"
    ).fetchone() == (0,)
    assert new.execute("pragma integrity_check").fetchall() == [("ok",)]
    assert new.execute("pragma user_version").fetchone() == (SCHEMA_VERSION,)
    new.close()
